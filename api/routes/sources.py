"""Sync status of every configured source, and a trigger to run one now (admin key)."""

from __future__ import annotations

import hmac
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query

from api.deps import PrincipalsDep, ServicesDep
from api.schemas import ErrorBody
from askdocs.models import ADMIN

router = APIRouter(prefix="/v1/sources", tags=["sources"])


@router.get("")
def list_sources(services: ServicesDep, principals: PrincipalsDep) -> dict[str, Any]:
    """Per source: last run start/end, status, documents added/updated/deleted, the number of failures and next
    runs; the failures themselves (paths, channel names, reasons) only for the admin principal."""
    scheduler = services.scheduler
    if scheduler is None:
        return {"scheduler": "off", "sources": []}
    admin = ADMIN in principals
    return {"scheduler": "on", "sources": [_shown(s.to_dict(), admin) for s in scheduler.statuses()]}


def _shown(status: dict[str, Any], admin: bool) -> dict[str, Any]:
    """A source's status as this caller may see it: failure reasons name restricted things."""
    failures = status.pop("failures")
    return {**status, "failure_count": len(failures), **({"failures": failures} if admin else {})}


_TRIGGER_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing or wrong X-Askdocs-Admin-Key."},
    403: {"model": ErrorBody, "description": "Triggering syncs is disabled (no ASKDOCS_ADMIN_KEY)."},
    404: {"model": ErrorBody, "description": "No source of that name."},
    409: {"model": ErrorBody, "description": "The scheduler does not run in this process."},
}


@router.post("/{name}/sync", status_code=202, responses=_TRIGGER_ERRORS)
def trigger_sync(
    name: str,
    services: ServicesDep,
    x_askdocs_admin_key: Annotated[str | None, Header(description="The ASKDOCS_ADMIN_KEY value.")] = None,
    full: Annotated[bool, Query(description="Re-read everything and prune.")] = False,
) -> dict[str, Any]:
    """Start a sync of ``name`` now; a run already in progress absorbs the request."""
    expected = services.settings.admin_key
    if expected is None:
        raise HTTPException(403, detail="triggering syncs is disabled: set ASKDOCS_ADMIN_KEY to enable it")
    if not x_askdocs_admin_key or not hmac.compare_digest(x_askdocs_admin_key, expected.get_secret_value()):
        raise HTTPException(401, detail="missing or wrong X-Askdocs-Admin-Key")
    scheduler = services.scheduler
    if scheduler is None:
        raise HTTPException(409, detail="the scheduler is not running in this process (ASKDOCS_SCHEDULER=false)")
    try:
        started = scheduler.trigger(name, full=full)
    except KeyError:
        raise HTTPException(404, detail=f"no source named {name!r}") from None
    return {"source": name, "full": full, "started": started, "coalesced": not started}

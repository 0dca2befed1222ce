"""Sync status of every configured source, and a trigger to run one now (admin key)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query

from api.deps import ServicesDep, require_admin

router = APIRouter(prefix="/v1/sources", tags=["sources"])


@router.get("")
def list_sources(services: ServicesDep) -> dict[str, Any]:
    """Per source: last run start/end, status, documents added/updated/deleted, failures, next runs."""
    scheduler = services.scheduler
    if scheduler is None:
        return {"scheduler": "off", "sources": []}
    return {"scheduler": "on", "sources": [s.to_dict() for s in scheduler.statuses()]}


@router.post("/{name}/sync", status_code=202)
def trigger_sync(
    name: str,
    services: ServicesDep,
    x_askdocs_admin_key: Annotated[str | None, Header(description="The ASKDOCS_ADMIN_KEY value.")] = None,
    full: Annotated[bool, Query(description="Re-read everything and prune.")] = False,
) -> dict[str, Any]:
    """Start a sync of ``name`` now; a run already in progress absorbs the request."""
    require_admin(services, x_askdocs_admin_key, "triggering syncs")
    scheduler = services.scheduler
    if scheduler is None:
        raise HTTPException(409, detail="the scheduler is not running in this process (ASKDOCS_SCHEDULER=false)")
    try:
        started = scheduler.trigger(name, full=full)
    except KeyError:
        raise HTTPException(404, detail=f"no source named {name!r}") from None
    return {"source": name, "full": full, "started": started, "coalesced": not started}

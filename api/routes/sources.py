"""Sync status of every configured source, and a trigger to run one now (admins only)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query

from askdocs.api.deps import AdminDep, ServicesDep
from askdocs.api.schemas import ErrorBody

router = APIRouter(prefix="/v1/sources", tags=["sources"])

# Failure reasons name paths, channels and pages, restricted ones included: the whole status is for admins.
_ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "No credentials: sign in or use an admin API key."},
    403: {"model": ErrorBody, "description": "The caller is not an administrator (role:admin)."},
}
_TRIGGER_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ADMIN_ERRORS,
    404: {"model": ErrorBody, "description": "No source of that name."},
    409: {"model": ErrorBody, "description": "The scheduler does not run in this process."},
}


@router.get("", dependencies=[AdminDep], responses=_ADMIN_ERRORS)
def list_sources(services: ServicesDep) -> dict[str, Any]:
    """Per source: last run start/end, status, documents added/updated/deleted, failures, next runs; ``access``:
    each source's identity sync and permission refresh (status, counts, next run)."""
    scheduler, access = services.scheduler, services.access.statuses() if services.access is not None else []
    if scheduler is None:
        return {"scheduler": "off", "sources": [], "access": access}
    return {"scheduler": "on", "sources": [s.to_dict() for s in scheduler.statuses()], "access": access}


@router.post("/{name}/sync", status_code=202, dependencies=[AdminDep], responses=_TRIGGER_ERRORS)
def trigger_sync(
    name: str,
    services: ServicesDep,
    full: Annotated[bool, Query(description="Re-read everything and prune.")] = False,
) -> dict[str, Any]:
    """Start a sync of ``name`` now; a run already in progress absorbs the request."""
    scheduler = services.scheduler
    if scheduler is None:
        raise HTTPException(409, detail="the scheduler is not running in this process (ASKDOCS_SCHEDULER=false)")
    try:
        started = scheduler.trigger(name, full=full)
    except KeyError:
        raise HTTPException(404, detail=f"no source named {name!r}") from None
    return {"source": name, "full": full, "started": started, "coalesced": not started}

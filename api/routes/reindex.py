"""A model switch inside the serving process (the embedded index has one owner): start, watch, cancel (admin key)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException
from pydantic import BaseModel, Field

from api.deps import ServicesDep, require_admin
from ingest.reindex import RebuildJob

router = APIRouter(prefix="/v1/admin/reindex", tags=["admin"])
AdminKey = Annotated[str | None, Header(description="The ASKDOCS_ADMIN_KEY value.")]


class ReindexRequest(BaseModel):
    """The models to switch to (the serving ones where left out)."""

    embedder_en: str | None = Field(None, max_length=500)
    embedder_ja: str | None = Field(None, max_length=500)
    keep_old: bool = False


@router.post("", status_code=202)
def start(body: ReindexRequest, services: ServicesDep, x_askdocs_admin_key: AdminKey = None) -> dict[str, Any]:
    """Rebuild the index with other models while it serves, then switch (resumes a rebuild a kill left)."""
    require_admin(services, x_askdocs_admin_key, "reindexing")
    if services.rebuild_job is not None and services.rebuild_job.state == "running":
        raise HTTPException(409, detail="a rebuild is already running; GET this URL for its progress")
    current = services.serving_models()
    try:
        rebuild = services.reindexer(body.embedder_en or current.en, body.embedder_ja or current.ja)
    except ValueError as exc:
        raise HTTPException(400, detail=str(exc)) from None
    services.rebuild_job = RebuildJob(rebuild, body.keep_old)
    services.rebuild_job.thread.start()
    return services.rebuild_job.status()


@router.get("")
def progress(services: ServicesDep, x_askdocs_admin_key: AdminKey = None) -> dict[str, Any]:
    """The last rebuild's state and progress."""
    require_admin(services, x_askdocs_admin_key, "reindexing")
    if services.rebuild_job is None:
        return {"state": "idle"}
    return services.rebuild_job.status()


@router.delete("")
def cancel(services: ServicesDep, x_askdocs_admin_key: AdminKey = None) -> dict[str, Any]:
    """Stop a running rebuild and drop its collection, or drop one a kill left."""
    require_admin(services, x_askdocs_admin_key, "reindexing")
    job = services.rebuild_job
    if job is not None and job.state == "running":
        job.cancel_requested = True
        job.rebuild.stop.set()
        job.thread.join(300)
        return job.status()
    if not services.cancel_rebuild():
        raise HTTPException(404, detail="no rebuild under way")
    return {"state": "cancelled"}

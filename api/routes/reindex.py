"""A model switch inside the serving process (the embedded index has one owner): start, watch, cancel (admins)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException
from pydantic import BaseModel, Field

from askdocs.api.deps import AdminDep, ServicesDep
from askdocs.api.schemas import ErrorBody
from askdocs.ingest.reindex import RebuildJob

router = APIRouter(
    prefix="/v1/admin/reindex",
    tags=["admin"],
    dependencies=[AdminDep],
    responses={
        401: {"model": ErrorBody, "description": "No credentials: sign in or use an admin API key."},
        403: {"model": ErrorBody, "description": "The caller is not an administrator (role:admin)."},
    },
)


class ReindexRequest(BaseModel):
    """The models to switch to (the serving ones where left out)."""

    embedder_en: str | None = Field(None, max_length=500)
    embedder_ja: str | None = Field(None, max_length=500)
    keep_old: bool = False


@router.post("", status_code=202)
def start(body: ReindexRequest, services: ServicesDep) -> dict[str, Any]:
    """Rebuild the index with other models while it serves, then switch (resumes a rebuild a kill left)."""
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
def progress(services: ServicesDep) -> dict[str, Any]:
    """The last rebuild's state and progress."""
    if services.rebuild_job is None:
        return {"state": "idle"}
    return services.rebuild_job.status()


@router.delete("")
def cancel(services: ServicesDep) -> dict[str, Any]:
    """Stop a running rebuild and drop its collection, or drop one a kill left."""
    job = services.rebuild_job
    if job is not None and job.state == "running":
        job.cancel_requested = True
        job.rebuild.stop.set()
        job.thread.join(300)
        return job.status()
    if not services.cancel_rebuild():
        raise HTTPException(404, detail="no rebuild under way")
    return {"state": "cancelled"}

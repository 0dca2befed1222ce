"""POST /v1/feedback (thumbs on an answer or a hit) and GET /v1/facets (documents per source the caller sees)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from api.auth.authenticator import IdentityDep
from api.auth.principals import Identity
from api.deps import PrincipalsDep, ServicesDep
from api.feedback import Feedback, FeedbackStore
from askdocs.models import SearchFilters
from retrieval.hybrid import source_counts

router = APIRouter(prefix="/v1", tags=["search"])


def feedback_store(request: Request) -> FeedbackStore:
    """The process-wide feedback table in ``data_dir`` (opened on first use)."""
    store: FeedbackStore | None = getattr(request.app.state, "feedback", None)
    if store is None:
        store = FeedbackStore(request.app.state.services.settings.data_dir / "feedback.sqlite3")
        request.app.state.feedback = store
    return store


def _user(identity: Identity) -> str:
    return identity.email or (f"key:{identity.name}" if identity.name else identity.via)


@router.post("/feedback", status_code=201)
def give_feedback(
    body: Feedback, identity: IdentityDep, store: Annotated[FeedbackStore, Depends(feedback_store)]
) -> dict[str, Any]:
    """Store a thumbs up/down (and optional comment) with the query and the signed-in user.

    Cookie sessions must send the page's ``X-CSRF-Token``; anonymous callers are refused."""
    if identity.via == "anonymous":
        raise HTTPException(401, detail="sign in to give feedback", headers={"WWW-Authenticate": "Bearer"})
    return {"id": store.add(_user(identity), body), "stored": True}


@router.get("/facets")
async def facets(
    services: ServicesDep,
    principals: PrincipalsDep,
    updated_after: Annotated[str | None, Query(description="ISO date-time: only documents updated since.")] = None,
) -> dict[str, Any]:
    """How many documents of each source the caller may see (the page's source filter)."""
    try:
        filters = SearchFilters.model_validate({"updated_after": updated_after}) if updated_after else None
    except ValueError:
        raise HTTPException(422, detail="updated_after: not an ISO date-time") from None
    counts = await run_in_threadpool(source_counts, services.index, principals, filters)
    return {"sources": [{"name": name, "documents": n} for name, n in counts.items()]}

"""POST /v1/feedback (thumbs on an answer or a hit) and GET /v1/facets (documents per source, space, channel and
folder that the caller sees)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from askdocs.api.auth.authenticator import IdentityDep
from askdocs.api.auth.principals import Identity
from askdocs.api.deps import PrincipalsDep, ServicesDep
from askdocs.api.feedback import Feedback, FeedbackStore
from askdocs.models import SearchFilters
from askdocs.retrieval.hybrid import facet_counts

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
    source: Annotated[list[str] | None, Query(description="Only these sources (narrows the containers).")] = None,
    container: Annotated[
        list[str] | None, Query(description="Only these spaces/channels/folders (narrows the sources).")
    ] = None,
) -> dict[str, Any]:
    """How many documents of each source and each space, channel or folder the caller may see (the page's filters).

    A container's ``value`` is what search filters take (``containers``): ``space:<key>``, ``channel:<name>`` or
    ``folder:<top folder>``."""
    if updated_after:
        try:
            SearchFilters.model_validate({"updated_after": updated_after})
        except ValueError:
            raise HTTPException(422, detail="updated_after: not an ISO date-time") from None
    filters = SearchFilters.model_validate({"updated_after": updated_after, "sources": source, "containers": container})
    counts = await run_in_threadpool(facet_counts, services.index, principals, filters)
    return {
        "sources": [{"name": name, "documents": n} for name, n in counts["sources"].items()],
        "containers": [
            {"value": value, "kind": value.partition(":")[0], "name": value.partition(":")[2], "documents": n}
            for value, n in counts["containers"].items()
        ],
    }

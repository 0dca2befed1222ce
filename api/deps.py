"""FastAPI dependencies: the shared services and the caller's ACL principals."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request

from api.services import Services
from askdocs.models import PUBLIC

_EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+$")
_GROUP = re.compile(r"^[A-Za-z0-9._:@+-]{1,128}$")


def get_services(request: Request) -> Services:
    """The process-wide services built at start-up."""
    return request.app.state.services  # type: ignore[no-any-return]


def get_principals(
    request: Request,
    x_askdocs_user: Annotated[str | None, Header(description="Caller's email, set by the auth proxy.")] = None,
    x_askdocs_groups: Annotated[
        str | None, Header(description="Comma-separated groups, set by the auth proxy.")
    ] = None,
) -> list[str]:
    """``public`` plus ``user:<email>`` and ``group:<name>`` from the identity headers (when trusted)."""
    principals = [PUBLIC]
    if not request.app.state.services.settings.trust_identity_headers:
        return principals + spaces_for(principals, request.app.state.services.space_access)
    if x_askdocs_user:
        user = x_askdocs_user.strip().lower()
        if not _EMAIL.match(user):
            raise HTTPException(400, detail="X-Askdocs-User must be an email address")
        principals.append(f"user:{user}")
    for group in (g.strip() for g in (x_askdocs_groups or "").split(",")):
        if not group:
            continue
        if not _GROUP.match(group):
            raise HTTPException(400, detail=f"X-Askdocs-Groups has an invalid group name: {group[:40]!r}")
        principals.append(f"group:{group}")
    return principals + spaces_for(principals, request.app.state.services.space_access)


def spaces_for(principals: list[str], space_access: dict[str, list[str]]) -> list[str]:
    """``space:<KEY>`` principals granted by configuration to any of ``principals``."""
    held = set(principals)
    return [f"space:{key}" for key, allowed in sorted(space_access.items()) if held & set(allowed)]


ServicesDep = Annotated[Services, Depends(get_services)]
PrincipalsDep = Annotated[list[str], Depends(get_principals)]

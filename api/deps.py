"""FastAPI dependencies: the shared services and the caller's ACL principals (decided in ``api.auth``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from askdocs.api.auth.authenticator import PrincipalsDep, get_principals, require_admin
from askdocs.api.auth.principals import spaces_for
from askdocs.app import Services

__all__ = ["AdminDep", "PrincipalsDep", "ServicesDep", "get_principals", "get_services", "spaces_for"]


def get_services(request: Request) -> Services:
    """The process-wide services built at start-up."""
    return request.app.state.services  # type: ignore[no-any-return]


ServicesDep = Annotated[Services, Depends(get_services)]
AdminDep = Depends(require_admin)

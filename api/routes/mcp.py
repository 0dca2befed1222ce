"""``/mcp``: the MCP tools as streamable HTTP, behind the same caller identification as every REST route.

A credential is required (API key or OIDC bearer token, as for ``/v1/*``; a trusted proxy's or a session's identity
counts too); an anonymous call is refused with 401, except in demo mode on this machine, where it sees public
documents only, as the demo page does. The transport is stateless (one JSON response per POST), so every request
is identified on its own and no session outlives a revoked key.
"""

from __future__ import annotations

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from askdocs.api.auth.authenticator import Authenticator, IdentityDep
from askdocs.api.deps import PrincipalsDep
from askdocs.api.mcp_server import REQUEST_PRINCIPALS, build_mcp, http_principals

PATH = "/mcp"
router = APIRouter(include_in_schema=False)


class HandOff(Response):
    """Lets an ASGI app (the MCP transport) answer the request itself."""

    def __init__(self, app: ASGIApp) -> None:
        super().__init__()
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.app(scope, receive, send)


@router.api_route(PATH, methods=["GET", "POST", "DELETE"])
async def mcp_endpoint(request: Request, identity: IdentityDep, principals: PrincipalsDep) -> Response:
    """The MCP streamable-HTTP endpoint; tools run with the caller's principals."""
    authenticator: Authenticator = request.app.state.auth
    if identity.via == "anonymous" and not authenticator.may_use_demo(request):
        raise HTTPException(
            401,
            detail="MCP needs a credential: send 'Authorization: Bearer <API key or OIDC token>' "
            "(an administrator creates keys with 'askdocs keys create')",
            headers={"WWW-Authenticate": 'Bearer realm="askdocs"'},
        )
    setattr(request.state, REQUEST_PRINCIPALS, principals)
    return HandOff(request.app.state.mcp.session_manager.handle_request)


def install(app: FastAPI) -> None:
    """Add the ``/mcp`` route and its MCP server (its session manager must run in the app's lifespan)."""
    server = build_mcp(lambda: app.state.services, http_principals)
    server.streamable_http_app(stateless_http=True, json_response=True)  # creates server.session_manager
    app.state.mcp = server
    app.include_router(router)

"""The search page's sign-in: OIDC authorization code + PKCE (Authlib), demo "sign in as", logout, and the
signed HttpOnly SameSite=Lax session cookie (Secure when ``public_url`` is https)."""

from __future__ import annotations

import logging
import os
import secrets
import time
from pathlib import Path
from typing import Any

from authlib.integrations.starlette_client import OAuth, OAuthError
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import RedirectResponse
from pydantic import BaseModel
from starlette.middleware.sessions import SessionMiddleware

from askdocs.api.auth.authenticator import Authenticator, IdentityDep, check_csrf
from askdocs.api.auth.oidc import person_claims
from askdocs.api.auth.principals import AuthError
from askdocs.settings import Settings

log = logging.getLogger(__name__)
COOKIE = "askdocs_session"
router = APIRouter(prefix="/auth", tags=["sign-in"])


def session_secret(settings: Settings) -> str:
    """The configured cookie-signing secret, else one generated once and kept (0600) in ``data_dir/auth``."""
    if settings.auth.session_secret is not None:
        return settings.auth.session_secret.get_secret_value()
    path: Path = settings.auth_dir / "session-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def install(app: FastAPI, settings: Settings) -> None:
    """Add the authenticator, the session cookie middleware and the sign-in routes to ``app``."""
    authenticator = Authenticator(settings)
    app.state.auth = authenticator
    app.state.oauth = _oauth_client(settings) if settings.auth.sign_in_enabled else None
    secure = (settings.auth.public_url or "").startswith("https://")
    app.add_middleware(
        SessionMiddleware,  # type: ignore[arg-type]
        secret_key=session_secret(settings),
        session_cookie=COOKIE,
        max_age=settings.auth.session_max_age_s,
        same_site="lax",
        https_only=secure,
    )
    app.include_router(router)


def _oauth_client(settings: Settings) -> Any:
    auth = settings.auth
    oauth = OAuth()
    kwargs: dict[str, Any] = {"scope": auth.oidc_scopes, "code_challenge_method": "S256"}
    if auth.oidc_client_secret is None:
        kwargs["token_endpoint_auth_method"] = "none"
    return oauth.register(
        "idp",
        client_id=auth.oidc_client_id,
        client_secret=auth.oidc_client_secret.get_secret_value() if auth.oidc_client_secret else None,
        server_metadata_url=f"{auth.oidc_issuer}/.well-known/openid-configuration",
        client_kwargs=kwargs,
    )


def _sign_in(request: Request, user: dict[str, Any]) -> None:
    """Start a fresh session for ``user`` (a new CSRF token too: nothing from before sign-in carries over)."""
    request.session.clear()
    request.session["user"] = {**user, "at": time.time()}
    request.session["csrf"] = secrets.token_urlsafe(32)


def _csrf(request: Request) -> None:
    try:
        check_csrf(request)
    except AuthError as exc:
        raise HTTPException(exc.status, detail=exc.message) from None


@router.get("/me")
def me(request: Request, identity: IdentityDep) -> dict[str, Any]:
    """Who the page is signed in as, the CSRF token its requests echo, and the sign-in choices it offers."""
    authenticator: Authenticator = request.app.state.auth
    if "csrf" not in request.session:
        request.session["csrf"] = secrets.token_urlsafe(32)
    demo = authenticator.may_use_demo(request)
    return {
        "via": identity.via,
        "email": identity.email,
        "name": identity.name if identity.via == "demo" else None,
        "admin": identity.is_admin,
        "csrf": request.session["csrf"],
        "sign_in": request.app.state.oauth is not None,
        "demo_people": [p.model_dump() for p in authenticator.people.values()] if demo else [],
    }


@router.get("/login")
async def login(request: Request) -> Any:
    """Redirect to the OpenID provider (authorization code flow with PKCE)."""
    client = request.app.state.oauth
    if client is None:
        raise HTTPException(404, detail="sign-in is not configured: set ASKDOCS_AUTH__OIDC_ISSUER and _CLIENT_ID")
    public_url = request.app.state.auth.auth.public_url
    redirect_uri = f"{public_url}/auth/callback" if public_url else str(request.url_for("auth_callback"))
    return await client.authorize_redirect(request, redirect_uri)


@router.get("/callback", name="auth_callback")
async def callback(request: Request) -> RedirectResponse:
    """The provider's redirect back: exchange the code, verify the ID token, start the session."""
    client = request.app.state.oauth
    if client is None:
        raise HTTPException(404, detail="sign-in is not configured")
    try:
        token = await client.authorize_access_token(request)
        claims = dict(token.get("userinfo") or {})
        email, groups = person_claims(claims, request.app.state.auth.auth)
    except OAuthError as exc:
        log.warning("sign-in failed: %s", exc.error)
        raise HTTPException(400, detail=f"sign-in failed: {exc.error}") from None
    except AuthError as exc:
        raise HTTPException(exc.status, detail=f"sign-in refused: {exc.message}") from None
    _sign_in(request, {"via": "session", "email": email, "groups": groups})
    return RedirectResponse("/", status_code=303)


@router.post("/logout")
def logout(request: Request, identity: IdentityDep) -> dict[str, bool]:
    """End the page's session (CSRF-checked)."""
    _csrf(request)
    request.session.clear()
    return {"signed_out": True}


class DemoSignIn(BaseModel):
    """Which sample person to become."""

    email: str


@router.post("/demo")
def demo_sign_in(body: DemoSignIn, request: Request, identity: IdentityDep) -> dict[str, str]:
    """Demo mode: sign in as one of the sample workspace's fictional people (CSRF-checked)."""
    authenticator: Authenticator = request.app.state.auth
    if not authenticator.may_use_demo(request):
        raise HTTPException(404, detail="demo sign-in is off (ASKDOCS_AUTH__DEMO)")
    _csrf(request)
    chosen = authenticator.people.get(body.email.strip().lower())
    if chosen is None:
        raise HTTPException(404, detail="no sample person with that email")
    _sign_in(request, {"via": "demo", "email": chosen.email})
    return {"email": chosen.email, "name": chosen.name}

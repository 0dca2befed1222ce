"""The one place a request's identity is decided, and the FastAPI dependencies every route uses.

Order: a credential in ``Authorization`` (API key or OIDC bearer token) wins and nothing else is read; then a
trusted proxy's headers (only from ``trusted_proxies``); then the page's session cookie; else anonymous.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import time
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, HTTPException, Request

from askdocs.api.auth.demo import DemoPerson, is_loopback, load_people
from askdocs.api.auth.expansion import PrincipalExpander
from askdocs.api.auth.keys import PREFIX, KeyStore
from askdocs.api.auth.oidc import BearerVerifier
from askdocs.api.auth.principals import ANONYMOUS, GROUP, AuthError, Identity, checked_email, person
from askdocs.database import engine_for
from askdocs.identity import IdentityStore
from askdocs.settings import Settings

log = logging.getLogger(__name__)
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
LEGACY_HEADERS = ("X-Askdocs-User", "X-Askdocs-Groups")
CSRF_HEADER = "X-CSRF-Token"


class Authenticator:
    """Decides who is asking, from the ``auth`` settings; built once per app."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.auth = settings.auth
        self.keys = KeyStore(settings.auth_dir / "keys.sqlite3")
        self.bearer = BearerVerifier(settings.auth) if settings.auth.oidc_enabled else None
        self.proxies = [ipaddress.ip_network(cidr, strict=False) for cidr in settings.auth.trusted_proxies]
        self.people: dict[str, DemoPerson] = load_people(settings.demo_people_file) if settings.auth.demo else {}
        headers = [*LEGACY_HEADERS, self.auth.proxy_email_header, self.auth.proxy_groups_header]
        self.identity_headers = [h for h in dict.fromkeys(headers) if h]
        self._warned: set[str] = set()
        self.expander = PrincipalExpander(IdentityStore(engine_for(settings)), settings.auth.principals_cache_s)

    def principals(self, identity: Identity, space_access: dict[str, list[str]]) -> list[str]:
        """The ACL principals of ``identity``: its own, what synced identities give it, and space grants."""
        return self.expander.principals(identity, space_access)

    def from_proxy(self, request: Request) -> bool:
        """True when the connection comes from one of the configured proxy addresses."""
        host = request.client.host if request.client else ""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.proxies)

    def may_use_demo(self, request: Request) -> bool:
        """Demo sign-in is for this machine (or a listed proxy) only."""
        return self.auth.demo and (
            is_loopback(request.client.host if request.client else "") or self.from_proxy(request)
        )

    async def identify(self, request: Request) -> Identity:
        """The caller of ``request``; ``AuthError`` when a presented credential is not acceptable."""
        authorization = request.headers.get("authorization")
        if authorization is not None:
            return await self._credential(authorization)
        trusted = self.auth.proxy_enabled and self.from_proxy(request)
        if trusted:
            proxied = self._proxied(request)
            if proxied is not None:
                check_origin(request)
                return proxied
        else:
            self._ignore_identity_headers(request)
        return self._session(request) or ANONYMOUS

    async def verify_token(self, token: str) -> Identity:
        """The caller an API key or bearer token stands for, checked as in ``Authorization`` (``AuthError`` if not)."""
        return await self._credential(f"Bearer {token}")

    async def _credential(self, authorization: str) -> Identity:
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthError("Authorization must be 'Bearer <token or API key>'")
        if token.startswith(PREFIX):
            key = self.keys.verify(token)
            if key is None:
                raise AuthError("unknown or revoked API key")
            return Identity(via="api-key", principals=key.principals, name=key.name)
        if self.bearer is None:
            raise AuthError("bearer tokens are not accepted here: no OpenID provider is configured")
        return await self.bearer.verify(token)

    def _proxied(self, request: Request) -> Identity | None:
        raw = request.headers.get(self.auth.proxy_email_header)
        if not raw:
            return None
        email = checked_email(raw, self.auth.proxy_email_header)
        groups: list[str] = []
        if self.auth.proxy_groups_header:
            groups = [g.strip() for g in request.headers.get(self.auth.proxy_groups_header, "").split(",") if g.strip()]
            bad = [g for g in groups if not GROUP.match(g)]
            if bad:
                raise AuthError(f"{self.auth.proxy_groups_header} has an invalid group name: {bad[0][:40]!r}", 400)
        return person("proxy", email, groups, self.auth)

    def _ignore_identity_headers(self, request: Request) -> None:
        for header in self.identity_headers:
            if header in request.headers and header not in self._warned:
                self._warned.add(header)
                where = request.client.host if request.client else "?"
                log.warning(
                    "ignoring %s from %s: identity headers count only from a trusted proxy "
                    "(ASKDOCS_AUTH__PROXY_ENABLED, ASKDOCS_AUTH__TRUSTED_PROXIES); logged once",
                    header,
                    where,
                )

    def _session(self, request: Request) -> Identity | None:
        user = request.session.get("user") if "session" in request.scope else None
        if not isinstance(user, dict):
            return None
        if time.time() - float(user.get("at", 0)) > self.auth.session_max_age_s:
            request.session.pop("user", None)
            return None
        identity: Identity | None = None
        if user.get("via") == "demo" and self.auth.demo:
            demo = self.people.get(str(user.get("email")))
            identity = demo.identity() if demo else None
        elif user.get("via") == "session" and self.auth.sign_in_enabled:
            identity = person("session", str(user["email"]), list(user.get("groups", [])), self.auth)
        if identity is not None:
            check_csrf(request)
        return identity


def check_origin(request: Request) -> None:
    """Refuse a state-changing request another site made with this site's ambient credentials."""
    if request.method in SAFE_METHODS:
        return
    origin = request.headers.get("origin")
    if request.headers.get("sec-fetch-site") == "cross-site" or (
        origin and urlsplit(origin).netloc != request.headers.get("host")
    ):
        raise AuthError("cross-site request refused", 403)


def check_csrf(request: Request) -> None:
    """A cookie-authenticated state-changing request must echo the session's CSRF token (and be same-origin)."""
    check_origin(request)
    if request.method in SAFE_METHODS:
        return
    expected = request.session.get("csrf")
    sent = request.headers.get(CSRF_HEADER)
    if not expected or not sent or not hmac.compare_digest(str(expected), sent):
        raise AuthError(f"missing or wrong {CSRF_HEADER} header (reload the page)", 403)


def _http_error(exc: AuthError) -> HTTPException:
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if exc.status == 401 else None
    return HTTPException(exc.status, detail=exc.message, headers=headers)


async def get_identity(request: Request) -> Identity:
    """The verified caller (cached on the request)."""
    cached = getattr(request.state, "identity", None)
    if isinstance(cached, Identity):
        return cached
    authenticator: Authenticator = request.app.state.auth
    try:
        identity = await authenticator.identify(request)
    except AuthError as exc:
        raise _http_error(exc) from None
    request.state.identity = identity
    return identity


IdentityDep = Annotated[Identity, Depends(get_identity)]


async def get_principals(request: Request, identity: IdentityDep) -> list[str]:
    """The caller's ACL principals: ``public``, what its verified identity holds, synced groups and space grants."""
    authenticator: Authenticator = request.app.state.auth
    return authenticator.principals(identity, request.app.state.services.space_access)


PrincipalsDep = Annotated[list[str], Depends(get_principals)]


async def require_admin(identity: IdentityDep) -> None:
    """Operational routes: only an admin API key or a configured admin person."""
    if identity.is_admin:
        return
    if identity.via == "anonymous":
        raise HTTPException(401, detail="sign in or use an admin API key", headers={"WWW-Authenticate": "Bearer"})
    raise HTTPException(403, detail="this needs an administrator (role:admin)")

"""OIDC bearer tokens: signature against the issuer's JWKS (discovered, cached, refetched on an unknown kid),
then ``iss``, ``aud``, ``exp``/``nbf`` with a small skew, asymmetric algorithms only (PyJWT does the checks)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx
import jwt

from askdocs.api.auth.principals import AuthError, Identity, checked_email, person
from askdocs.settings import AuthSettings

log = logging.getLogger(__name__)
# An unknown kid refetches the JWKS at most this often, so random kids cannot make us hammer the provider.
MIN_REFETCH_S = 2.0
FETCH_TIMEOUT_S = 5.0


class Jwks:
    """The issuer's signing keys by kid, from its discovery document; refreshed when stale or on a new kid."""

    def __init__(self, issuer: str, ttl_s: float) -> None:
        self.issuer = issuer
        self.ttl_s = ttl_s
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = self._tried_at = float("-inf")
        self._lock = asyncio.Lock()

    async def _fetch(self) -> None:
        async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_S) as client:
            discovery = (await client.get(f"{self.issuer}/.well-known/openid-configuration")).raise_for_status().json()
            if discovery.get("issuer", "").rstrip("/") != self.issuer:
                raise AuthError("the OpenID provider's discovery document names another issuer", 503)
            jwks = (await client.get(discovery["jwks_uri"])).raise_for_status().json()
        keys = {}
        for data in jwks.get("keys", []):
            if data.get("use", "sig") != "sig" or "kid" not in data:
                continue
            try:
                keys[data["kid"]] = jwt.PyJWK.from_dict(data)
            except jwt.PyJWTError as exc:
                log.warning("skipping an unusable key %s from the JWKS: %s", data.get("kid"), exc)
        self._keys = keys
        self._fetched_at = time.monotonic()

    async def key(self, kid: str) -> jwt.PyJWK:
        """The key ``kid``; fetches the JWKS when stale or when ``kid`` is new to it (at most every few seconds).
        While the provider is unreachable, the keys already fetched stay usable."""
        async with self._lock:
            now = time.monotonic()
            wanted = now - self._fetched_at > self.ttl_s or kid not in self._keys
            unreachable = False
            if wanted and now - self._tried_at >= MIN_REFETCH_S:
                self._tried_at = now
                try:
                    await self._fetch()
                except (httpx.HTTPError, ValueError, KeyError) as exc:
                    log.error("cannot fetch the OpenID provider's keys: %s", type(exc).__name__)
                    unreachable = True
            if kid in self._keys:
                return self._keys[kid]
            if unreachable:
                raise AuthError("the OpenID provider's keys are unavailable; try again shortly", 503)
            raise AuthError("token signed with an unknown key (kid)")


class BearerVerifier:
    """Verifies OIDC access or ID tokens and turns their claims into an ``Identity``."""

    def __init__(self, settings: AuthSettings) -> None:
        assert settings.oidc_issuer is not None
        self.settings = settings
        self.jwks = Jwks(settings.oidc_issuer, settings.oidc_jwks_ttl_s)

    async def verify(self, token: str) -> Identity:
        """The caller the token names, or ``AuthError`` saying what is wrong with it."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthError("malformed bearer token") from None
        alg = header.get("alg")
        if alg not in self.settings.oidc_algorithms:
            raise AuthError(f"token algorithm {str(alg)[:16]!r} is not accepted")
        key = await self.jwks.key(str(header.get("kid", "")))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key.key,
                algorithms=[alg],
                audience=self.settings.audience,
                issuer=self.settings.oidc_issuer,
                leeway=self.settings.oidc_leeway_s,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            raise AuthError(f"invalid token: {exc}") from None
        except (TypeError, ValueError):  # e.g. an RS256 header naming an EC key
            raise AuthError(f"invalid token: {alg} does not fit the key it names") from None
        return person("bearer", *person_claims(claims, self.settings), self.settings)


def person_claims(claims: dict[str, Any], settings: AuthSettings) -> tuple[str, list[str]]:
    """E-mail (lower-cased; must be verified when the claim says) and IdP groups from verified claims."""
    email = claims.get("email")
    if not isinstance(email, str):
        raise AuthError("the token has no email claim (services use API keys: askdocs keys create)")
    if claims.get("email_verified", True) is not True:
        raise AuthError("the token's email address is not verified", 403)
    groups: list[str] = []
    if settings.oidc_groups_claim:
        raw = claims.get(settings.oidc_groups_claim) or []
        groups = [raw] if isinstance(raw, str) else [g for g in raw if isinstance(g, str)]
    return checked_email(email, "the email claim"), groups

"""A real OpenID provider (node ``oidc-provider``, tests/oidc/provider.mjs) on a free 127.0.0.1 port.

The tests make its signing keys (RS256 and ES256), so they can also sign edge-case tokens with the provider's own
keys; restarting it with new keys is a key rotation. Real tokens come from the real authorization code flow (PKCE),
driven over HTTP by ``OidcProvider.tokens``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import jwt
import pytest
from api_fixtures import LiveServer, serve
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from local_server import free_port

from askdocs.app import Services
from askdocs.connectors.files.connector import FilesConnector
from askdocs.settings import AuthSettings, Settings

PROVIDER_DIR = Path(__file__).resolve().parent / "oidc"
RESOURCE = "urn:askdocs:api"
CLIENT_ID, CLIENT_SECRET = "askdocs", "askdocs-test-secret"
ES_CLIENT_ID, ES_CLIENT_SECRET = "askdocs-es", "askdocs-es-secret"
# Test accounts: login name -> claims. Mixed-case e-mail on purpose (askdocs lower-cases it).
ACCOUNTS: dict[str, dict[str, Any]] = {
    "ana": {"email": "Ana@Kumo.example", "email_verified": True, "groups": ["finance"], "name": "Ana"},
    "laura": {"email": "laura@kumo.example", "email_verified": True, "groups": ["finance", "leadership"]},
    "mei": {"email": "mei.tanaka@kumo.example", "email_verified": True, "groups": ["tokyo-managers"]},
    "ops": {"email": "ops@kumo.example", "email_verified": True, "groups": ["askdocs-admins"]},
    "unverified": {"email": "mallory@kumo.example", "email_verified": False, "groups": ["finance"]},
}


@dataclass
class SigningKey:
    """One of the provider's keys: its kid, algorithm, private key (tests sign with it) and private JWK."""

    kid: str
    alg: str
    private: Any
    jwk: dict[str, Any]

    @property
    def public_pem(self) -> bytes:
        from cryptography.hazmat.primitives import serialization

        return self.private.public_key().public_bytes(  # type: ignore[no-any-return]
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def make_keys(tag: str) -> list[SigningKey]:
    """A fresh RS256 and ES256 key pair, kids tagged with ``tag``."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    keys = []
    for private, alg, algorithm in (
        (rsa_key, "RS256", jwt.algorithms.RSAAlgorithm),
        (ec_key, "ES256", jwt.algorithms.ECAlgorithm),
    ):
        kid = f"{tag}-{alg.lower()}"
        jwk = {**algorithm.to_jwk(private, as_dict=True), "kid": kid, "alg": alg, "use": "sig"}
        keys.append(SigningKey(kid, alg, private, jwk))
    return keys


@dataclass
class OidcProvider:
    """The running provider: its issuer url, current keys, and helpers to get and forge tokens."""

    folder: Path
    port: int = field(default_factory=free_port)
    keys: list[SigningKey] = field(default_factory=list)
    process: subprocess.Popen[bytes] | None = None

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, keys: list[SigningKey]) -> None:
        """Start (or restart with other keys: a rotation) and wait until discovery answers."""
        self.stop()
        self.keys = keys
        config = {"port": self.port, "resource": RESOURCE, "accounts": ACCOUNTS, "keys": [k.jwk for k in keys]}
        path = self.folder / "provider.json"
        path.write_text(json.dumps(config))
        log = (self.folder / "provider.log").open("ab")
        self.process = subprocess.Popen(["node", str(PROVIDER_DIR / "provider.mjs"), str(path)], stdout=log, stderr=log)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"oidc-provider exited: {(self.folder / 'provider.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise RuntimeError("oidc-provider did not start within 30 s")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None

    def key(self, alg: str) -> SigningKey:
        return next(k for k in self.keys if k.alg == alg)

    def sign(self, alg: str = "RS256", kid: str | None = None, **overrides: Any) -> str:
        """A token signed with the provider's own ``alg`` key; valid unless ``overrides`` break a claim."""
        now = int(time.time())
        claims = {
            "iss": self.issuer, "aud": RESOURCE, "sub": "ana", "iat": now, "nbf": now, "exp": now + 300,
            "email": "ana@kumo.example", "email_verified": True, "groups": ["finance"],
        }  # fmt: skip
        claims.update(overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        signing = self.key(alg)
        return jwt.encode(claims, signing.private, algorithm=alg, headers={"kid": kid or signing.kid})

    def tokens(self, login: str, client: tuple[str, str] = (CLIENT_ID, CLIENT_SECRET)) -> dict[str, Any]:
        """Real tokens for ``login``: authorization code flow with PKCE, the login form posted, code exchanged."""
        redirect = "http://127.0.0.1:9/callback"  # a loopback redirect: the provider ignores the port
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        params = {
            "client_id": client[0], "response_type": "code", "scope": "openid email profile groups",
            "redirect_uri": redirect, "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
            "code_challenge": challenge, "code_challenge_method": "S256", "resource": RESOURCE,
        }  # fmt: skip
        with httpx.Client(timeout=10) as http:
            response = http.get(f"{self.issuer}/auth", params=params)
            for _ in range(12):
                if response.is_redirect:
                    location = urljoin(str(response.url), response.headers["location"])
                    if location.startswith(redirect):
                        code = parse_qs(urlsplit(location).query)["code"][0]
                        break
                    response = http.get(location)
                elif 'id="login"' in response.text:
                    action = re.search(r'action="([^"]+)"', response.text)
                    assert action, response.text
                    url = urljoin(str(response.url), action.group(1))
                    response = http.post(url, data={"login": login, "password": "x"})
                else:
                    raise AssertionError(f"unexpected provider answer {response.status_code}: {response.text[:300]}")
            else:
                raise AssertionError("the authorization flow did not end at the redirect")
            token = http.post(
                f"{self.issuer}/token",
                data={"grant_type": "authorization_code", "code": code, "redirect_uri": redirect,
                      "code_verifier": verifier, "resource": RESOURCE},
                auth=client,
            )  # fmt: skip
        assert token.status_code == 200, token.text
        return token.json()  # type: ignore[no-any-return]


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    """The provider, started once; skipped (with the reason) only when node is not installed."""
    if shutil.which("node") is None:
        pytest.skip("node is not installed: the OpenID provider tests need node 20+ (and `make test` for npm)")
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        pytest.fail("oidc-provider is not installed: run `make oidc` (npm install in tests/oidc)")
    provider = OidcProvider(tmp_path_factory.mktemp("oidc"))
    provider.start(make_keys("k1"))
    yield provider
    provider.stop()


WORKSPACE = Path(__file__).resolve().parent.parent / "examples" / "workspace"
FILES = ["finance/q3-2026-budget.md", "leadership/reorg-plan-2027.md", "hr/private/mei-tanaka-relocation.md",
         "it/vpn-setup.md"]  # fmt: skip
# The same rules as the sample workspace, written for IdP groups (what a deployment's _acl.toml names).
IDP_ACL = """
default = ["public"]
[[rule]]
pattern = "hr/private/mei-tanaka-relocation.md"
principals = ["user:mei.tanaka@kumo.example"]
[[rule]]
pattern = "finance/**"
principals = ["group:idp:finance", "group:idp:leadership"]
[[rule]]
pattern = "leadership/**"
principals = ["group:idp:leadership"]
"""
BUDGET, HERON = "files:finance/q3-2026-budget.md", "files:leadership/reorg-plan-2027.md"


def oidc_settings(root: Path, provider: OidcProvider) -> Settings:
    auth = AuthSettings(
        oidc_issuer=provider.issuer, oidc_audience=RESOURCE, oidc_client_id=CLIENT_ID,
        oidc_client_secret=CLIENT_SECRET, oidc_scopes="openid email profile groups", oidc_groups_claim="groups",
        admin_groups=["askdocs-admins"],
    )  # type: ignore[arg-type]  # fmt: skip
    return Settings(data_dir=root / "data", workspace_dir=root / "workspace", auth=auth)


@pytest.fixture(scope="session")
def oidc_server(tmp_path_factory: pytest.TempPathFactory, oidc_provider: OidcProvider) -> Iterator[LiveServer]:  # noqa: F811
    """askdocs with bearer tokens and page sign-in against the provider, over four sample documents."""
    root = tmp_path_factory.mktemp("oidc-askdocs")
    for relpath in FILES:
        (root / "workspace" / relpath).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(WORKSPACE / relpath, root / "workspace" / relpath)
    (root / "workspace" / "_acl.toml").write_text(IDP_ACL)
    settings = oidc_settings(root, oidc_provider)
    services = Services.build(settings)
    assert services.indexer().full_sync(FilesConnector(root / "workspace")).status == "succeeded"
    with serve(settings, services) as url:
        yield LiveServer(url, services)
    services.close()

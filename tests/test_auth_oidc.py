"""OIDC bearer tokens end to end: a real OpenID provider, real tokens, a live askdocs, and the token edge cases."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest
from api_fixtures import LiveServer, ask_streamed
from oidc_fixtures import (
    BUDGET,
    ES_CLIENT_ID,
    ES_CLIENT_SECRET,
    HERON,
    OidcProvider,
    make_keys,
    oidc_provider,  # noqa: F401
    oidc_server,  # noqa: F401
)

from askdocs.api.auth.oidc import MIN_REFETCH_S


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def search(server: LiveServer, query: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(f"{server.url}/v1/search", json={"query": query, "top_k": 10}, headers=headers, timeout=30)


def doc_ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [hit["doc_id"] for hit in response.json()["hits"]]


def test_real_access_token_through_search_and_ask(oidc_server: LiveServer, oidc_provider: OidcProvider) -> None:  # noqa: F811
    token = oidc_provider.tokens("ana")["access_token"]
    assert BUDGET not in doc_ids(search(oidc_server, "Falcon budget line")), "anonymous sees public only"
    assert doc_ids(search(oidc_server, "Falcon budget line", bearer(token)))[0] == BUDGET
    assert HERON not in doc_ids(search(oidc_server, "Project Heron reorganisation", bearer(token)))
    answer = httpx.post(
        f"{oidc_server.url}/v1/ask", json={"question": "How much is reserved in the Falcon budget line?"},
        headers=bearer(token), timeout=30,
    ).json()  # fmt: skip
    assert "850,000" in answer["text"] and BUDGET in {c["doc_id"] for c in answer["citations"]}
    streamed = ask_streamed(oidc_server.url, "How much is reserved in the Falcon budget line?", bearer(token))
    assert BUDGET in {c["doc_id"] for c in streamed["citations"]}
    assert HERON not in {h["doc_id"] for h in streamed["hits"]}


def test_es256_tokens_and_user_principal(oidc_server: LiveServer, oidc_provider: OidcProvider) -> None:  # noqa: F811
    laura = oidc_provider.tokens("laura", (ES_CLIENT_ID, ES_CLIENT_SECRET))["access_token"]
    assert json.loads(base64.urlsafe_b64decode(laura.split(".")[0] + "=="))["alg"] == "ES256"
    assert doc_ids(search(oidc_server, "Project Heron reorganisation", bearer(laura)))[0] == HERON
    mei = oidc_provider.tokens("mei")["access_token"]
    assert doc_ids(search(oidc_server, "Cedar relocation grant", bearer(mei)))[0] == (
        "files:hr/private/mei-tanaka-relocation.md"
    )
    streamed = ask_streamed(oidc_server.url, "When does the Project Heron reorganisation take effect?", bearer(laura))
    assert HERON in {c["doc_id"] for c in streamed["citations"]}


def test_identity_headers_and_id_tokens_do_not_open_documents(
    oidc_server: LiveServer,  # noqa: F811
    oidc_provider: OidcProvider,  # noqa: F811
) -> None:
    spoof = {"X-Askdocs-Groups": "leadership", "X-Askdocs-User": "laura@kumo.example", "X-Forwarded-Email": "x@y.z"}
    assert not {BUDGET, HERON} & set(doc_ids(search(oidc_server, "board meeting acquisition Heron Falcon", spoof)))
    id_token = oidc_provider.tokens("laura")["id_token"]  # audience: the client id, not the API
    refused = search(oidc_server, "Project Heron", bearer(id_token))
    assert refused.status_code == 401 and "audience" in refused.json()["detail"].lower()


def _unsigned(provider: OidcProvider, header: dict[str, Any]) -> str:
    valid = provider.sign()
    payload = valid.split(".")[1]
    encoded = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return f"{encoded}.{payload}."


def _hs256_with_public_key(provider: OidcProvider) -> str:
    """The classic key-confusion forgery: HS256 'signed' with the provider's public RSA key as the secret."""
    header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "kid": provider.key("RS256").kid}).encode())
    payload = provider.sign().split(".")[1]
    signing_input = header.rstrip(b"=").decode() + "." + payload
    mac = hmac.new(provider.key("RS256").public_pem, signing_input.encode(), hashlib.sha256).digest()
    return signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


EDGE_CASES: dict[str, tuple[Any, int, str]] = {
    "expired": (lambda p: p.sign(exp=int(time.time()) - 120), 401, "expired"),
    "not yet valid": (lambda p: p.sign(nbf=int(time.time()) + 600), 401, "not yet valid"),
    "wrong audience": (lambda p: p.sign(aud="urn:other:api"), 401, "audience"),
    "wrong issuer": (lambda p: p.sign(iss="http://127.0.0.1:1"), 401, "issuer"),
    "no exp": (lambda p: p.sign(exp=None), 401, "exp"),
    "alg none": (lambda p: _unsigned(p, {"alg": "none", "kid": p.key("RS256").kid}), 401, "'none' is not accepted"),
    "HS256 with the public key": (_hs256_with_public_key, 401, "'HS256' is not accepted"),
    "unknown kid": (lambda p: p.sign(kid="not-a-key"), 401, "unknown key"),
    "RS256 header naming an EC key": (lambda p: p.sign(alg="RS256", kid=p.key("ES256").kid), 401, "invalid token"),
    "email not verified": (lambda p: p.sign(email_verified=False), 403, "not verified"),
    "no email": (lambda p: p.sign(email=None), 401, "no email claim"),
    "garbage": (lambda p: "not.a.jwt", 401, "malformed"),
}


@pytest.mark.parametrize("case", list(EDGE_CASES))
def test_token_edge_cases_are_refused(oidc_server: LiveServer, oidc_provider: OidcProvider, case: str) -> None:  # noqa: F811
    assert doc_ids(search(oidc_server, "Falcon budget line", bearer(oidc_provider.sign())))[0] == BUDGET
    make, status, needle = EDGE_CASES[case]
    response = search(oidc_server, "Falcon budget line", bearer(make(oidc_provider)))
    assert response.status_code == status, response.text
    assert needle.lower() in response.json()["detail"].lower()
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_small_clock_skew_is_tolerated(oidc_server: LiveServer, oidc_provider: OidcProvider) -> None:  # noqa: F811
    late = oidc_provider.sign(exp=int(time.time()) - 20, nbf=int(time.time()) + 20)
    assert doc_ids(search(oidc_server, "Falcon budget line", bearer(late)))[0] == BUDGET


def test_admin_routes_need_an_admin_group(oidc_server: LiveServer, oidc_provider: OidcProvider) -> None:  # noqa: F811
    ops = bearer(oidc_provider.tokens("ops")["access_token"])
    ana = bearer(oidc_provider.tokens("ana")["access_token"])
    for path in ("/metrics", "/v1/sources"):
        assert httpx.get(oidc_server.url + path).status_code == 401
        assert httpx.get(oidc_server.url + path, headers=ana).status_code == 403
        assert httpx.get(oidc_server.url + path, headers=ops).status_code == 200
    assert httpx.post(f"{oidc_server.url}/v1/sources/files/sync", headers=ana).status_code == 403


def test_jwks_rotation(oidc_server: LiveServer, oidc_provider: OidcProvider) -> None:  # noqa: F811
    old = oidc_provider.sign()
    assert search(oidc_server, "Falcon", bearer(old)).status_code == 200  # the k1 keys are cached
    oidc_provider.start(make_keys(f"rotated-{time.monotonic_ns()}"))  # the provider now signs with new keys only
    time.sleep(MIN_REFETCH_S)  # askdocs refetches the JWKS for a new kid at most this often
    new = oidc_provider.tokens("ana")["access_token"]
    assert doc_ids(search(oidc_server, "Falcon budget line", bearer(new)))[0] == BUDGET, "new kid: JWKS refetched"
    refused = search(oidc_server, "Falcon budget line", bearer(old))
    assert refused.status_code == 401 and "unknown key" in refused.json()["detail"]


def test_provider_outage_keeps_known_keys(oidc_server: LiveServer, oidc_provider: OidcProvider) -> None:  # noqa: F811
    known = oidc_provider.sign()
    assert search(oidc_server, "Falcon", bearer(known)).status_code == 200
    oidc_provider.stop()
    try:
        time.sleep(MIN_REFETCH_S)
        unknown = search(oidc_server, "Falcon", bearer(oidc_provider.sign(kid="brand-new")))
        assert unknown.status_code == 503 and "unavailable" in unknown.json()["detail"]
        assert doc_ids(search(oidc_server, "Falcon budget line", bearer(known)))[0] == BUDGET
    finally:
        oidc_provider.start(oidc_provider.keys)

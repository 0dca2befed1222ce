"""API keys (CLI and HTTP), the trusted proxy, demo sign-in with CSRF, admin routes, and the start-up refusals."""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path

import httpx
import pytest
from api_fixtures import LiveServer, live_server, serve, with_auth  # noqa: F401
from pydantic import ValidationError
from typer.testing import CliRunner

from askdocs.api.app import create_app
from askdocs.api.auth.authenticator import get_identity
from askdocs.api.auth.demo import exposure_problem
from askdocs.api.cli import app as cli
from askdocs.settings import AuthSettings, Settings

RESTRICTED = ("files:finance/", "files:leadership/", "files:hr/private/", "files:tokyo/managers/")
CEDAR = "files:hr/private/mei-tanaka-relocation.md"


def search(url: str, query: str, headers: dict[str, str] | None = None, **kw: object) -> httpx.Response:
    return httpx.post(f"{url}/v1/search", json={"query": query, "top_k": 10}, headers=headers, timeout=30, **kw)


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [h["doc_id"] for h in response.json()["hits"]]


def keys(server: LiveServer, *args: str) -> tuple[int, str, str]:
    env = {"ASKDOCS_DATA_DIR": str(server.services.settings.data_dir)}
    result = CliRunner().invoke(cli, ["keys", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_keys_created_used_listed_and_revoked(live_server: LiveServer) -> None:  # noqa: F811
    code, out, err = keys(live_server, "create", "--name", "finance-bot", "--principals", "group:finance",
                          "--as", "user:Ana@kumo.example")  # fmt: skip
    assert code == 0, err
    secret = out.strip()
    assert secret.startswith("askd_") and "group:finance" in err and "user:ana@kumo.example" in err
    headers = {"Authorization": f"Bearer {secret}"}
    assert ids(search(live_server.url, "Falcon budget line", headers))[0] == "files:finance/q3-2026-budget.md"
    code, listed, _ = keys(live_server, "list")
    assert code == 0 and "finance-bot" in listed and "group:finance" in listed and secret not in listed
    assert "never" not in listed.split("finance-bot")[1].splitlines()[0], "the use was recorded"
    stored = (live_server.services.settings.auth_dir / "keys.sqlite3").read_bytes()
    assert secret.encode() not in stored, "only a hash is stored"
    with sqlite3.connect(live_server.services.settings.auth_dir / "keys.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM api_keys WHERE name = 'finance-bot'").fetchone() == (1,)
    assert keys(live_server, "revoke", "finance-bot")[0] == 0
    revoked = search(live_server.url, "Falcon budget line", headers)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["detail"], "a revoked key fails at once"


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--name", "x", "--principals", "finance"], "invalid ACL principal"),
        (["--name", "x", "--principals", "role:admin"], "invalid ACL principal"),
        (["--name", "x", "--as", "ana@kumo.example"], "--as takes user:<email>"),
        (["--name", "bad name!"], "invalid key name"),
    ],
)
def test_keys_cli_names_the_problem(live_server: LiveServer, args: list[str], needle: str) -> None:  # noqa: F811
    code, _, err = keys(live_server, "create", *args)
    assert code == 2 and needle in " ".join(err.split())


def test_keys_cli_duplicate_and_unknown_names(live_server: LiveServer) -> None:  # noqa: F811
    assert keys(live_server, "create", "--name", "twice")[0] == 0
    code, _, err = keys(live_server, "create", "--name", "twice")
    assert code == 2 and "exists" in err
    code, _, err = keys(live_server, "revoke", "nobody")
    assert code == 2 and "no key named" in err


def test_a_key_cannot_be_widened_by_any_header(live_server: LiveServer) -> None:  # noqa: F811
    proxied = with_auth(live_server.services.settings, proxy_enabled=True, trusted_proxies=["127.0.0.1/32"])
    key = live_server.key()  # public only
    widen = {**key, "X-Askdocs-Groups": "leadership", "X-Forwarded-Email": "mei.tanaka@kumo.example",
             "X-Forwarded-Groups": "leadership", "X-Askdocs-User": "laura@kumo.example"}  # fmt: skip
    with serve(proxied, live_server.services) as url:
        for query in ("Cedar relocation grant", "board meeting acquisition", "Falcon budget line"):
            assert not [d for d in ids(search(url, query, widen)) if d.startswith(RESTRICTED)]


def test_trusted_proxy_headers_count_only_from_its_addresses(
    live_server: LiveServer,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = live_server.services.settings
    mei = {"X-Auth-Request-Email": "Mei.Tanaka@kumo.example"}
    trusted = with_auth(settings, proxy_enabled=True, trusted_proxies=["127.0.0.0/8"],
                        proxy_email_header="X-Auth-Request-Email")  # fmt: skip
    with serve(trusted, live_server.services) as url:
        assert ids(search(url, "Cedar relocation grant", mei))[0] == CEDAR
        bad = search(url, "x", {**mei, "X-Forwarded-Groups": "a b"})
        assert bad.status_code == 400 and "X-Forwarded-Groups" in bad.json()["detail"]
        cross = search(url, "x", {**mei, "Origin": "http://elsewhere.example"})
        assert cross.status_code == 403 and "cross-site" in cross.json()["detail"]
    elsewhere = with_auth(settings, proxy_enabled=True, trusted_proxies=["10.0.0.0/8"],
                          proxy_email_header="X-Auth-Request-Email")  # fmt: skip
    caplog.set_level(logging.WARNING, logger="askdocs.api.auth.authenticator")
    with serve(elsewhere, live_server.services) as url:
        for _ in range(3):
            assert CEDAR not in ids(search(url, "Cedar relocation grant", mei)), "not from the proxy: ignored"
    warnings = [r.getMessage() for r in caplog.records if "X-Auth-Request-Email" in r.getMessage()]
    assert len(warnings) == 1 and "ignoring" in warnings[0] and "Mei" not in warnings[0], "logged once, no value"


def test_forwarded_for_cannot_make_a_client_look_like_the_proxy(live_server: LiveServer) -> None:  # noqa: F811
    """Trust follows the connection's address: X-Forwarded-For neither hides a loopback proxy nor fakes one."""
    settings = live_server.services.settings
    mei = {"X-Forwarded-Email": "mei.tanaka@kumo.example"}
    sidecar = with_auth(settings, proxy_enabled=True, trusted_proxies=["127.0.0.1/32"])
    with serve(sidecar, live_server.services) as url:
        assert ids(search(url, "Cedar relocation grant", {**mei, "X-Forwarded-For": "203.0.113.9"}))[0] == CEDAR
    remote = with_auth(settings, proxy_enabled=True, trusted_proxies=["10.0.0.0/8"])
    with serve(remote, live_server.services) as url:
        assert CEDAR not in ids(search(url, "Cedar relocation grant", {**mei, "X-Forwarded-For": "10.0.0.5"}))


def test_the_issue_request_returns_no_restricted_document_in_any_mode(live_server: LiveServer) -> None:  # noqa: F811
    settings = live_server.services.settings
    spoof = {"X-Askdocs-Groups": "leadership", "X-Forwarded-Groups": "leadership"}
    modes = [settings, with_auth(settings, demo=True), with_auth(settings, proxy_enabled=True,
             trusted_proxies=["10.0.0.0/8"])]  # fmt: skip
    for mode in modes:
        with serve(mode, live_server.services) as url:
            hits = ids(search(url, "board meeting acquisition", spoof))
            assert hits and not [d for d in hits if d.startswith(RESTRICTED)]


def test_demo_sign_in_needs_csrf_and_sets_a_safe_cookie(live_server: LiveServer) -> None:  # noqa: F811
    demo = with_auth(live_server.services.settings, demo=True)
    with serve(demo, live_server.services) as url, httpx.Client(base_url=url, timeout=30) as page:
        me = page.get("/auth/me").json()
        assert me["via"] == "anonymous" and me["csrf"]
        assert {p["email"] for p in me["demo_people"]} >= {"ana@kumo.example", "mei.tanaka@kumo.example"}
        refused = page.post("/auth/demo", json={"email": "ana@kumo.example"})
        assert refused.status_code == 403 and "X-CSRF-Token" in refused.json()["detail"]
        csrf = {"X-CSRF-Token": me["csrf"]}
        assert page.post("/auth/demo", json={"email": "nobody@kumo.example"}, headers=csrf).status_code == 404
        signed = page.post("/auth/demo", json={"email": "ana@kumo.example"}, headers=csrf)
        assert signed.status_code == 200
        cookie = signed.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie and "secure" not in cookie
        me = page.get("/auth/me").json()
        assert me["email"] == "ana@kumo.example" and me["via"] == "demo"
        csrf = {"X-CSRF-Token": me["csrf"]}  # a new token after sign-in
        budget = page.post("/v1/search", json={"query": "Falcon budget line"}, headers=csrf).json()["hits"]
        assert budget[0]["doc_id"] == "files:finance/q3-2026-budget.md"
        forged = page.post("/v1/search", json={"query": "Falcon budget line"})
        assert forged.status_code == 403, "a cookie-authenticated POST without the token is refused"
        other_site = page.post("/v1/search", json={"query": "x"}, headers={**csrf, "Origin": "http://evil.example"})
        assert other_site.status_code == 403
        assert page.post("/auth/logout", headers=csrf).json() == {"signed_out": True}
        after = page.post("/v1/search", json={"query": "Falcon budget line"}, headers=csrf).json()["hits"]
        assert not [h for h in after if h["doc_id"].startswith(RESTRICTED)]


def test_session_cookie_is_secure_behind_https(live_server: LiveServer) -> None:  # noqa: F811
    demo = with_auth(live_server.services.settings, demo=True, public_url="https://askdocs.internal.example")
    with serve(demo, live_server.services) as url:
        assert "secure" in httpx.get(f"{url}/auth/me").headers["set-cookie"].lower()


# Routes that need no caller: liveness, the page shell and its static script and stylesheet, the API description,
# and the sign-in redirects themselves.
PUBLIC_ROUTES = {"/healthz", "/", "/static", "/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc",
                 "/auth/login", "/auth/callback"}  # fmt: skip


def _routes(routes: list) -> list:  # type: ignore[type-arg]
    """Every route, through FastAPI's lazily included routers too."""
    found = []
    for route in routes:
        contexts = getattr(route, "effective_route_contexts", None)
        found.extend(contexts() if contexts else [route])
    return found


def _depends_on(dependant: object, call: object) -> bool:
    return any(d.call is call or _depends_on(d, call) for d in getattr(dependant, "dependencies", []))


def test_every_route_has_the_auth_dependency(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path / "data"))
    routes = _routes(app.routes)
    needing_auth = {"/v1/search", "/v1/ask", "/metrics", "/v1/sources", "/v1/sources/{name}/sync", "/mcp"}
    assert needing_auth <= {r.path for r in routes}
    missing = [r.path for r in routes if r.path not in PUBLIC_ROUTES and not _depends_on(r.dependant, get_identity)]
    assert missing == [], f"routes without the auth dependency: {missing}"


def test_unsafe_configurations_refuse_to_start(tmp_path: Path) -> None:
    demo = Settings(data_dir=tmp_path, auth=AuthSettings(demo=True))
    assert exposure_problem(demo, "127.0.0.1") is None and exposure_problem(demo, "localhost") is None
    problem = exposure_problem(demo, "0.0.0.0")
    assert problem and "ASKDOCS_AUTH__DEMO" in problem and "ASKDOCS_HOST" in problem
    behind = Settings(data_dir=tmp_path, auth=AuthSettings(demo=True, trusted_proxies=["10.1.0.0/16"]))
    assert exposure_problem(behind, "0.0.0.0") is None
    env = {"ASKDOCS_DATA_DIR": str(tmp_path), "ASKDOCS_AUTH__DEMO": "true"}
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"], env=env)
    assert result.exit_code == 2 and "ASKDOCS_AUTH__DEMO" in " ".join(result.stderr.split())
    result = CliRunner().invoke(cli, ["serve"], env={**env, "ASKDOCS_AUTH__DEMO": "false",
                                                     "ASKDOCS_AUTH__PROXY_ENABLED": "true"})  # fmt: skip
    assert result.exit_code == 2 and "ASKDOCS_AUTH" in result.stderr and "trusted_proxies" in result.stderr


@pytest.mark.parametrize(
    ("auth", "needle"),
    [
        ({"oidc_algorithms": ["RS256", "HS256"]}, "asymmetric"),
        ({"trusted_proxies": ["10.0.0.300/8"]}, "10.0.0.300"),
        ({"oidc_issuer": "http://idp.example"}, "https"),
    ],
)
def test_auth_settings_are_checked(auth: dict[str, object], needle: str) -> None:
    with pytest.raises(ValidationError, match=needle):
        AuthSettings(**auth)  # type: ignore[arg-type]

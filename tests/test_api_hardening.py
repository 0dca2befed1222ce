"""Issue 14 through HTTP on a live server: what non-admins see, limits, strict bodies, Host and page headers."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_fixtures import WORKSPACE, api_key, serve

from askdocs.app import Services
from askdocs.settings import Settings

SECRET_PATH = "leadership/succession-plan.md"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Services]]:
    """A scheduler-run files source with one unreadable restricted file, served with an admin test caller."""
    root = tmp_path_factory.mktemp("hardening")
    workspace = root / "ws"
    shutil.copytree(WORKSPACE / "it", workspace / "it")
    shutil.copy(WORKSPACE / "_acl.toml", workspace / "_acl.toml")
    (workspace / "leadership").mkdir()
    (workspace / SECRET_PATH).write_bytes(b"# Succession\n\xff\xfe not utf-8 \xff")
    sources = root / "askdocs.yaml"
    sources.write_text(
        f"sources:\n  - name: wiki\n    type: files\n    path: {workspace}\n    schedule: {{every: 1h}}\n",
        encoding="utf-8",
    )
    settings = Settings(
        data_dir=root / "data", sources_file=sources, max_request_bytes=64 * 1024, ask_concurrency_per_client=1
    )
    services = Services.build(settings)
    services.start_scheduler(tick_seconds=0.2)
    services.scheduler.wait_idle()  # type: ignore[union-attr]
    services.scheduler.trigger("wiki")  # type: ignore[union-attr]
    services.scheduler.wait_idle()  # type: ignore[union-attr]
    with serve(settings, services) as url:
        yield url, services
    services.close()


def _wiki(url: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    return next(s for s in httpx.get(f"{url}/v1/sources", headers=headers).json()["sources"] if s["name"] == "wiki")


def test_sources_failure_details_are_for_the_admin_only(server: tuple[str, Services]) -> None:
    url, services = server
    anonymous = httpx.get(f"{url}/v1/sources")
    assert anonymous.status_code == 401
    assert "succession" not in anonymous.text and "leadership" not in anonymous.text
    reader = httpx.get(f"{url}/v1/sources", headers=api_key(services.settings, "group:leadership"))
    assert reader.status_code == 403 and "succession" not in reader.text, "seeing documents is not operating"
    admin = _wiki(url, api_key(services.settings, admin=True))
    assert admin["status"] == "degraded" and len(admin["failures"]) == 1 and SECRET_PATH in admin["failures"][0]


def test_health_and_metrics_count_nothing_for_non_admins(server: tuple[str, Services]) -> None:
    url, services = server
    admin = api_key(services.settings, admin=True)
    health = httpx.get(f"{url}/healthz").json()
    assert health["status"] == "ok" and "chunks" not in health
    assert httpx.get(f"{url}/healthz", headers=admin).json()["chunks"] > 0
    assert httpx.get(f"{url}/metrics").status_code == 401
    text = httpx.get(f"{url}/metrics", headers=admin).text
    assert "askdocs_index_chunks " in text and "askdocs_sync_documents_total" in text


def test_oversized_body_is_413_declared_or_streamed(server: tuple[str, Services]) -> None:
    url, _ = server
    huge = {"query": "vpn", "filters": {"doc_ids": ["files:x" * 10] * 2000}}
    declared = httpx.post(f"{url}/v1/search", json=huge)
    assert declared.status_code == 413 and "ASKDOCS_MAX_REQUEST_BYTES" in declared.json()["detail"]

    def chunks() -> Iterator[bytes]:
        yield b'{"query": "vpn", "filters": {"doc_ids": ['
        for _ in range(2000):
            yield b'"files:xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",'
        yield b'"y"]}}'

    streamed = httpx.post(f"{url}/v1/search", content=chunks(), headers={"Content-Type": "application/json"})
    assert streamed.status_code == 413, streamed.text
    assert httpx.post(f"{url}/v1/search", json={"query": "vpn"}).status_code == 200, "the server is fine after"


def test_filter_lists_and_strings_have_limits(server: tuple[str, Services]) -> None:
    url, services = server
    limit = services.settings.max_filter_values
    too_many = httpx.post(f"{url}/v1/search", json={"query": "vpn", "filters": {"sources": ["s"] * (limit + 1)}})
    assert too_many.status_code == 422 and "ASKDOCS_MAX_FILTER_VALUES" in too_many.json()["detail"]
    assert too_many.json()["errors"][0]["loc"] == ["body", "filters", "sources"]
    long_id = "x" * (services.settings.max_filter_value_chars + 1)
    too_long = httpx.post(f"{url}/v1/ask", json={"question": "vpn?", "filters": {"doc_ids": [long_id]}})
    assert too_long.status_code == 422 and "ASKDOCS_MAX_FILTER_VALUE_CHARS" in too_long.json()["detail"]


def test_made_up_methods_and_paths_share_one_metrics_label(server: tuple[str, Services]) -> None:
    url, services = server
    for n in range(5):
        httpx.request(f"FROB{n}", f"{url}/v1/search")
        httpx.get(f"{url}/no/such/path/{n}")
    text = httpx.get(f"{url}/metrics", headers=api_key(services.settings, admin=True)).text
    assert "FROB" not in text
    assert 'method="other",route="/v1/search"' in text and "/no/such/path" not in text
    assert 'route="unmatched"' in text


def test_ask_concurrency_is_limited_per_client(server: tuple[str, Services]) -> None:
    url, services = server
    original = services.retrieve

    def slow_retrieve(*args: Any, **kwargs: Any) -> Any:
        time.sleep(1.0)
        return original(*args, **kwargs)

    services.retrieve = slow_retrieve  # type: ignore[method-assign]
    try:

        async def both() -> list[httpx.Response]:
            async with httpx.AsyncClient(base_url=url, timeout=30) as client:
                ask = {"question": "How do I connect to the VPN?"}
                return list(await asyncio.gather(client.post("/v1/ask", json=ask), client.post("/v1/ask", json=ask)))

        statuses = sorted(r.status_code for r in asyncio.run(both()))
    finally:
        services.retrieve = original  # type: ignore[method-assign]
    assert statuses == [200, 429], statuses
    assert httpx.post(f"{url}/v1/ask", json={"question": "VPN?"}, timeout=30).status_code == 200, "slot released"


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/v1/ask", {"question": "VPN?", "stream": 0}, "stream"),
        ("/v1/ask", {"question": "VPN?", "stream": "true"}, "stream"),
        ("/v1/search", {"query": "VPN", "filters": {"updated_before": 0}}, "updated_before"),
        ("/v1/search", {"query": "VPN", "filters": {"updated_after": 1767225600}}, "updated_after"),
        ("/v1/search", {"query": "VPN", "top_k": "5"}, "top_k"),
        ("/v1/search", {"query": "VPN", "top_k": True}, "top_k"),
    ],
)
def test_no_lax_coercion(server: tuple[str, Services], path: str, body: dict[str, Any], field: str) -> None:
    url, _ = server
    response = httpx.post(f"{url}{path}", json=body)
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"] and response.json()["errors"][0]["loc"][-1] == field


def test_validation_error_body_is_the_documented_one(server: tuple[str, Services]) -> None:
    url, _ = server
    spec = httpx.get(f"{url}/openapi.json").json()
    search = spec["paths"]["/v1/search"]["post"]["responses"]
    assert search["422"]["content"]["application/json"]["schema"]["$ref"].endswith("/ValidationErrorBody")
    assert {"400", "413", "422", "503"} <= set(search)
    assert "429" in spec["paths"]["/v1/ask"]["post"]["responses"]
    assert {"401", "403", "404", "409"} <= set(spec["paths"]["/v1/sources/{name}/sync"]["post"]["responses"])
    body = httpx.post(f"{url}/v1/search", json={"query": ""}).json()
    assert isinstance(body["detail"], str) and body["errors"][0]["loc"] == ["body", "query"]


def test_untrusted_host_is_refused(server: tuple[str, Services]) -> None:
    url, _ = server
    port = url.rsplit(":", 1)[1]
    rebinding = httpx.get(f"{url}/", headers={"Host": f"attacker.example:{port}"})
    assert rebinding.status_code == 400 and "ASKDOCS_TRUSTED_HOSTS" in rebinding.json()["detail"]
    assert httpx.post(f"{url}/v1/search", json={"query": "vpn"}, headers={"Host": "evil.test"}).status_code == 400
    assert httpx.get(f"{url}/healthz", headers={"Host": f"localhost:{port}"}).status_code == 200


def test_every_html_response_has_security_headers(server: tuple[str, Services]) -> None:
    url, _ = server
    for path in ("/", "/docs"):
        page = httpx.get(f"{url}{path}")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        csp = page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp and "'unsafe-eval'" not in csp
        script_src = csp.split("script-src ", 1)[1].split(";", 1)[0].split()
        assert script_src[0] == "'self'" and "'unsafe-inline'" not in script_src, "inline scripts by hash at most"
        assert page.headers["x-frame-options"] == "DENY" and page.headers["x-content-type-options"] == "nosniff"
        assert page.headers["referrer-policy"] == "no-referrer"
    assert httpx.get(f"{url}/healthz").headers["x-content-type-options"] == "nosniff"


def test_hits_show_workspace_paths_not_server_paths(server: tuple[str, Services], tmp_path: Path) -> None:
    url, _ = server
    hits = httpx.post(f"{url}/v1/search", json={"query": "How do I connect to the VPN?"}).json()["hits"]
    assert hits and all(not h["url"].startswith("file:") for h in hits)
    assert hits[0]["url"] == hits[0]["doc_id"].removeprefix("files:") == "it/vpn-setup.md"
    answer = httpx.post(f"{url}/v1/ask", json={"question": "What command connects to the VPN?"}, timeout=30).json()
    assert answer["citations"] and all(not c["url"].startswith("file:") for c in answer["citations"])

"""No credential reaches a caller or a log, whichever variable it came from (issue 14, hole 1)."""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from api_fixtures import LiveServer, live_server, serve  # noqa: F401
from openai_server import FakeOpenAI, Reply, fake_openai, fake_openai_server  # noqa: F401
from pydantic import SecretStr

from askdocs import redaction
from askdocs.ingest.sources import SourceConfig
from askdocs.retrieval.answer.llm import LLMAnswerer
from askdocs.settings import AuthSettings, Settings

VPN_Q = "What command do I run to connect to the VPN?"


def _serve_with_llm(live: LiveServer, fake: FakeOpenAI, **overrides: Any) -> Iterator[str]:
    settings = live.services.settings.model_copy(
        update={"llm_base_url": fake.url, "llm_model": "fake-chat", "llm_retries": 0, **overrides}
    )
    services = dataclasses.replace(live.services, settings=settings)
    services.answerer = LLMAnswerer(settings, services.analyzer)
    with serve(settings, services) as url:
        yield url


def _assert_key_hidden(url: str, key: str, fake: FakeOpenAI, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    fake.responder = lambda body: Reply(status=500, error="upstream broke", echo_credentials=True)
    for stream in (False, True):
        response = httpx.post(f"{url}/v1/ask", json={"question": VPN_Q, "stream": stream}, timeout=30)
        assert response.status_code == 502, response.text
        assert response.json()["detail"] == "the language model failed: 500", "a generic reason, no upstream text"
        assert key not in response.text and key[-10:] not in response.text
        assert response.json()["hits"], "the search part still returns"
    sent = {fake.requests[-1].headers.get("authorization"), fake.requests[-1].headers.get("api-key")}
    assert f"Bearer {key}" in sent or key in sent, "the key really went upstream"
    assert "received credentials" in caplog.text, "the upstream detail reaches the log"
    assert key not in caplog.text and key[-10:] not in caplog.text
    assert redaction.MASK in caplog.text


def test_llm_key_from_askdocs_setting_is_hidden(
    live_server: LiveServer,  # noqa: F811
    fake_openai: FakeOpenAI,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    key = "sk-askdocs-Qm4SECRETsetting771"
    for url in _serve_with_llm(live_server, fake_openai, llm_api_key=SecretStr(key)):
        _assert_key_hidden(url, key, fake_openai, caplog)


def test_llm_key_from_openai_api_key_fallback_is_hidden(
    live_server: LiveServer,  # noqa: F811
    fake_openai: FakeOpenAI,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = "sk-openai-Rn5SECRETfallback882"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    for url in _serve_with_llm(live_server, fake_openai, llm_api_key=None):
        _assert_key_hidden(url, key, fake_openai, caplog)


def test_llm_key_from_azure_fallback_is_hidden(
    live_server: LiveServer,  # noqa: F811
    fake_openai: FakeOpenAI,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = "azure0Tp6SECRETfallback993xyz"
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", key)
    overrides = {"llm_api_key": None, "llm_provider": "azure", "llm_base_url": fake_openai.base}
    for url in _serve_with_llm(live_server, fake_openai, **overrides):
        _assert_key_hidden(url, key, fake_openai, caplog)


def _logged(caplog: pytest.LogCaptureFixture, secret: str) -> str:
    redaction.install_log_redaction()
    caplog.clear()
    with caplog.at_level(logging.INFO):
        logging.getLogger("askdocs.test").info("connector said: %s", f"token {secret} rejected")
        try:
            raise RuntimeError(f"boom with {secret}")
        except RuntimeError:
            logging.getLogger("askdocs.test").exception("failed")
    return caplog.text


@pytest.mark.parametrize(
    "field",
    [
        "qdrant_api_key",
        "auth.oidc_client_secret",
        "auth.session_secret",
    ],
)
def test_connector_and_service_secrets_are_masked_in_logs(field: str, caplog: pytest.LogCaptureFixture) -> None:
    secret = f"{field}-Vw8SECRET-{len(field)}"
    block, _, name = field.rpartition(".")
    values = {block: AuthSettings(**{name: SecretStr(secret)})} if block else {name: SecretStr(secret)}
    redaction.register_settings(Settings(**values))  # type: ignore[arg-type]
    text = _logged(caplog, secret)
    assert "rejected" in text and "boom with" in text
    assert secret not in text and redaction.MASK in text
    assert redaction.redact(f"error: {secret}") == f"error: {redaction.MASK}"


def test_sources_file_credential_from_any_variable_is_masked(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = "xoxb-custom-name-Ab3SECRET"
    monkeypatch.setenv("TEAM_CHAT_BOT", secret)  # a name no pattern would guess
    source = SourceConfig(name="chat", type="slack", credentials={"bot_token": "TEAM_CHAT_BOT"})
    source.connector_config()
    assert secret not in _logged(caplog, secret)


@pytest.mark.parametrize(
    ("source_type", "variable"),
    [
        ("slack", "ASKDOCS_SLACK_BOT_TOKEN"),
        ("confluence", "ASKDOCS_CONFLUENCE_API_TOKEN"),
        ("confluence", "ASKDOCS_CONFLUENCE_BEARER_TOKEN"),
    ],
)
def test_connector_secrets_from_the_type_variables_are_masked(
    source_type: str, variable: str, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = f"{variable.lower()}-Qz4SECRET"
    monkeypatch.setenv(variable, secret)  # the default source's variable, read into the source's config
    config = SourceConfig(name="s", type=source_type).connector_config()
    assert secret in config.secrets() and secret not in repr(config)
    assert secret not in _logged(caplog, secret)


def test_google_credentials_file_secrets_are_masked(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    private_key = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcw\n-----END PRIVATE KEY-----\n"
    creds = tmp_path / "sa.json"
    creds.write_text(
        json.dumps({"type": "service_account", "private_key": private_key, "client_secret": "cs-Ux2SECRET"})
    )
    SourceConfig(name="drive", type="google-docs", options={"credentials_file": str(creds)}).connector_config()
    text = _logged(caplog, "cs-Ux2SECRET")
    assert "cs-Ux2SECRET" not in text
    assert "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcw" not in redaction.redact(f"bad key {private_key}")

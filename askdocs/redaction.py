"""One redaction path: every credential askdocs uses, whatever variable it came from, masked in logs and errors.

Credentials are registered where they are read (``register``, ``register_settings``); the environment's
credential-looking variables are registered too, so a key reached through a fallback (``OPENAI_API_KEY``,
``AZURE_OPENAI_API_KEY``) or a sources-file reference (``SLACK_BOT_TOKEN``) is known before it is used.
``install_log_redaction`` makes every log record pass through ``redact``, exception text included.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from typing import Any

from pydantic import SecretStr

from askdocs.settings import Settings

MASK = "***"
# Shorter values are not masked: replacing every "abc" in the logs would hide more than it protects.
MIN_SECRET_CHARS = 6
# Environment variables whose values are credentials, by name (fallback keys and sources-file references alike).
_SECRET_ENV = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIALS?)$", re.IGNORECASE)
# Credentials that show up in text with a recognisable shape even when nobody registered them.
_SHAPES = re.compile(
    r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}"
    r"|\bsk-[A-Za-z0-9_-]{12,}"
    r"|\bxox[abposr]-[A-Za-z0-9-]{8,}"
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----[^-]*-----END [A-Z ]*PRIVATE KEY-----"
)

_secrets: set[str] = set()
_lock = threading.Lock()
_installed = False


def register(value: str | SecretStr | None) -> None:
    """Mask ``value`` from now on in logs, error bodies and events."""
    raw = value.get_secret_value() if isinstance(value, SecretStr) else value
    if raw and len(raw.strip()) >= MIN_SECRET_CHARS:
        with _lock:
            _secrets.add(raw.strip())


def register_environment() -> None:
    """Register every credential-looking environment variable (``*_KEY``, ``*_TOKEN``, ``*_SECRET``...)."""
    for name, value in os.environ.items():
        if _SECRET_ENV.search(name):
            register(value)


def register_settings(settings: Settings) -> None:
    """Register every secret field of ``settings`` and the environment's credentials (a source's own secrets are
    registered when its connector config is read: ``ingest.sources.SourceConfig.connector_config``)."""
    for value in _secret_values(settings.model_dump()):  # secret fields stay SecretStr in a Python-mode dump
        register(value)
    register_environment()


def _secret_values(dumped: dict[str, Any]) -> list[SecretStr]:
    """The secret fields of a dumped settings model, nested blocks (``auth``) included."""
    found: list[SecretStr] = []
    for value in dumped.values():
        if isinstance(value, SecretStr):
            found.append(value)
        elif isinstance(value, dict):
            found.extend(_secret_values(value))
    return found


def redact(text: str) -> str:
    """``text`` with every registered credential and every credential-shaped token replaced by ``***``."""
    with _lock:
        known = sorted(_secrets, key=len, reverse=True)
    for secret in known:
        if secret in text:
            text = text.replace(secret, MASK)
    return _SHAPES.sub(_mask_shape, text)


def _mask_shape(match: re.Match[str]) -> str:
    scheme = match.group(1)
    return f"{scheme} {MASK}" if scheme else MASK


def install_log_redaction() -> None:
    """Pass every log record (message, arguments and exception text) through ``redact``; idempotent."""
    global _installed
    with _lock:
        if _installed:
            return
        _installed = True
    previous = logging.getLogRecordFactory()
    formatter = logging.Formatter()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a malformed record stays as it is; logging reports it
            return record
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        if record.exc_info:
            record.exc_text = redact(formatter.formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(factory)

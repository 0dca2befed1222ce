"""Google Drive v3 plumbing for the Google Docs connector: credentials, the API client, retries, errors.

Secrets (keys, tokens) never reach a log line or an error message: errors carry the HTTP status, Google's
``reason`` and a shortened message from the response only.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import google_auth_httplib2
import httplib2
from google.auth import exceptions as auth_exceptions
from google.auth.credentials import Credentials
from google.oauth2 import credentials as user_credentials
from google.oauth2 import service_account
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError

from askdocs.errors import SourceError
from askdocs.retry import Backoff, retry_after

log = logging.getLogger(__name__)

SCOPES = ["https://www.googleapis.com/auth/drive.readonly"]
API_VERSIONS = {"drive": "v3", "sheets": "v4", "slides": "v1", "admin": "directory_v1"}
RATE_LIMIT_REASONS = frozenset({"userRateLimitExceeded", "rateLimitExceeded"})
# 403 reasons that mean the credentials can never work (wrong scope, API disabled): the run fails.
FATAL_403_REASONS = frozenset(
    {"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT", "accessNotConfigured", "SERVICE_DISABLED"}
)


class DriveError(Exception):
    """A Drive call that failed for good. ``status`` 0 means a transport error; ``fatal``: credentials or scope."""

    def __init__(self, status: int, reason: str, message: str, fatal: bool = False) -> None:
        super().__init__(f"HTTP {status} {reason}: {message}" if status else f"{reason}: {message}")
        self.status = status
        self.reason = reason
        self.fatal = fatal


def load_credentials(path: Path, subject: str | None = None, scopes: list[str] = SCOPES) -> Credentials:
    """Service-account key (``subject``: user to impersonate by domain-wide delegation) or authorized-user JSON.

    Raises SourceError naming the file and the problem, never the file's contents.
    """
    try:
        info = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceError(f"cannot read Google credentials file {path}: {type(exc).__name__}") from None
    except ValueError:
        raise SourceError(f"Google credentials file {path} is not JSON") from None
    kind = info.get("type") if isinstance(info, dict) else None
    try:
        if kind == "service_account":
            return service_account.Credentials.from_service_account_info(info, scopes=scopes, subject=subject or None)
        if kind == "authorized_user":
            if subject:
                raise SourceError("ASKDOCS_GOOGLE_SUBJECT needs a service-account key, not user credentials")
            return user_credentials.Credentials.from_authorized_user_info(info, scopes=scopes)
    except ValueError as exc:
        raise SourceError(f"Google credentials file {path} is incomplete or malformed ({type(exc).__name__})") from None
    raise SourceError(
        f"Google credentials file {path} must be a service-account key or authorized-user JSON (its type is {kind!r})"
    )


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter for 429, 5xx, 403 rate limits and transport errors."""

    max_retries: int = 6
    base_delay: float = 1.0
    max_delay: float = 32.0

    def delay(self, attempt: int, asked: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based), honouring Retry-After up to ``max_delay``."""
        return Backoff(self.base_delay, self.max_delay).delay(attempt, asked)


def _error_details(exc: HttpError) -> tuple[str, str]:
    """Google's ``reason`` and ``message`` from an error response (JSON ``error`` object)."""
    reason, message = "", ""
    try:
        body = json.loads(exc.content.decode("utf-8"))
        error = body.get("error", {}) if isinstance(body, dict) else {}
        if isinstance(error, dict):
            message = str(error.get("message", ""))
            errors = error.get("errors") or []
            if errors and isinstance(errors[0], dict):
                reason = str(errors[0].get("reason", ""))
            reason = reason or str(error.get("status", ""))
    except (ValueError, AttributeError):
        pass
    return reason or "error", " ".join(message.split())[:200]


class DriveClient:
    """A Drive v3 ``Resource`` (static discovery document) and ``call``, which retries what is worth retrying."""

    def __init__(
        self,
        credentials: Credentials,
        api_endpoint: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.credentials = credentials
        self.api_endpoint = api_endpoint
        self.retry = retry or RetryPolicy()
        self.timeout = timeout
        self.sleep = sleep
        self._services: dict[str, Any] = {}

    @property
    def service(self) -> Any:
        """The Drive v3 resource, built on first use (offline: the discovery document ships with the client)."""
        return self._build("drive", "v3")

    def _build(self, api: str, version: str) -> Any:
        """A Google API resource built once (Sheets v4 and Slides v1 give sheet and slide ids for links;
        ``drive.readonly`` is enough to read them)."""
        if api not in self._services:
            http = google_auth_httplib2.AuthorizedHttp(self.credentials, http=httplib2.Http(timeout=self.timeout))
            endpoint = self.api_endpoint
            if endpoint and api != "drive":  # an overridden Drive endpoint (.../drive/v3/): other APIs share its root
                endpoint = endpoint.rstrip("/").removesuffix("/drive/v3") + "/"
            options = {"api_endpoint": endpoint} if endpoint else None
            self._services[api] = build(
                api, version, http=http, static_discovery=True, cache_discovery=False, client_options=options
            )
        return self._services[api]

    def call(self, make_request: Callable[[Any], Any], api: str = "drive") -> Any:
        """Execute ``make_request(service)`` (``api``: 'drive', 'sheets' or 'slides'); retries rate limits, 5xx and
        transport errors, raises DriveError."""
        attempt = 0
        while True:
            asked: float | None = None
            try:
                return make_request(self._build(api, API_VERSIONS[api])).execute(num_retries=0)
            except HttpError as exc:
                status = exc.resp.status if exc.resp is not None else 0
                reason, message = _error_details(exc)
                if status == 401:
                    raise DriveError(status, reason, "Google rejected the credentials", fatal=True) from None
                if status == 403 and (reason in FATAL_403_REASONS or "scope" in message.lower()):
                    raise DriveError(status, reason, message or "insufficient permission", fatal=True) from None
                retryable = status == 429 or status >= 500 or (status == 403 and reason in RATE_LIMIT_REASONS)
                if not retryable or attempt >= self.retry.max_retries:
                    raise DriveError(status, reason, message) from None
                asked = retry_after(exc.resp)
                log.info("Drive answered %s %s; retry %d", status, reason, attempt + 1)
            except auth_exceptions.RefreshError as exc:
                if not exc.retryable or attempt >= self.retry.max_retries:
                    raise DriveError(
                        401,
                        "authError",
                        "could not obtain an access token: check ASKDOCS_GOOGLE_CREDENTIALS_FILE and "
                        "ASKDOCS_GOOGLE_SUBJECT (and domain-wide delegation for the drive.readonly scope)",
                        fatal=True,
                    ) from None
            except (OSError, httplib2.HttpLib2Error, auth_exceptions.TransportError) as exc:
                if attempt >= self.retry.max_retries:
                    raise DriveError(0, type(exc).__name__, "Drive could not be reached") from None
                log.info("Drive transport error %s; retry %d", type(exc).__name__, attempt + 1)
            self.sleep(self.retry.delay(attempt, asked))
            attempt += 1

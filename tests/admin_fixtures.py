"""An admin caller for tests: the app's principals dependency overridden, so it survives changes to sign-in.

Requests carrying ``ADMIN_HEADERS`` get ``public`` and the admin principal; every other request gets ``public``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import FastAPI, Header
from local_server import serve_in_thread

from askdocs.api.app import create_app
from askdocs.api.deps import get_principals
from askdocs.app import Services
from askdocs.models import ADMIN, PUBLIC
from askdocs.settings import Settings

ADMIN_HEADERS = {"X-Test-Caller": "admin"}


def _test_principals(x_test_caller: Annotated[str | None, Header()] = None) -> list[str]:
    return [PUBLIC, ADMIN] if x_test_caller == "admin" else [PUBLIC]


def with_test_admin(app: FastAPI) -> FastAPI:
    """``app`` with principals taken from ``X-Test-Caller`` (``admin``: the admin principal)."""
    app.dependency_overrides[get_principals] = _test_principals
    return app


@contextmanager
def serve_with_admin(settings: Settings, services: Services) -> Iterator[str]:
    """Serve ``services`` on 127.0.0.1 with ``with_test_admin``; yields the base url."""
    with serve_in_thread(with_test_admin(create_app(settings, services)), "askdocs") as url:
        yield url

"""The errors a user can fix. Each message is one line naming the setting, the value and what to do.

The CLI prints them as one ``error:`` line and exits non-zero (a traceback only with ``--debug``); the server refuses
to start with the same line; the API answers 503 for an unavailable index, never a bare ``ValueError``.
"""

from __future__ import annotations


class AskdocsError(Exception):
    """A problem in the configuration or the environment, not a bug; ``str()`` is safe to show."""


class ConfigError(AskdocsError, ValueError):
    """A setting or the sources file (``askdocs.yaml``) is invalid or incomplete (a ``ValueError`` too: callers that
    validate input catch it as one)."""


class ModelNotFound(ConfigError):
    """A configured model name is not one askdocs knows."""


class SourceError(AskdocsError):
    """A source cannot be run: unknown type, missing credential, connector not installed."""


class IndexUnavailable(AskdocsError):
    """The index cannot be reached or opened (no Qdrant server at the URL, no index written yet)."""


class IndexLocked(IndexUnavailable):
    """Another askdocs process holds the embedded index."""


class IndexDamaged(IndexUnavailable):
    """The embedded index's files cannot be read: missing, truncated or corrupt (the message names server paths:
    for the log and the CLI, not for API callers)."""

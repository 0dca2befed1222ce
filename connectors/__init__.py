"""Connectors: pull documents from sources through small capability interfaces."""

from askdocs.connectors.base import (
    Checkpoint,
    ConnectorFailure,
    DocumentDeleted,
    LoadConnector,
    PollConnector,
    SlimConnector,
)

__all__ = ["Checkpoint", "ConnectorFailure", "DocumentDeleted", "LoadConnector", "PollConnector", "SlimConnector"]

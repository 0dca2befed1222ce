"""Connectors: pull documents from sources through small capability interfaces."""

from connectors.base import (
    Checkpoint,
    ConnectorFailure,
    DocumentDeleted,
    LoadConnector,
    PollConnector,
    SlimConnector,
)

__all__ = ["Checkpoint", "ConnectorFailure", "DocumentDeleted", "LoadConnector", "PollConnector", "SlimConnector"]

"""Options of ``slack`` and ``slack-export`` sources (``ASKDOCS_SLACK_*`` for the ones a source leaves unset)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr

from askdocs.connectors.config import ConnectorConfig


class SlackChannels(ConnectorConfig):
    """Which channels a Slack source reads (both the Web API and an export)."""

    env_prefix: ClassVar[str | None] = "ASKDOCS_SLACK_"

    channels_include: list[str] = Field(default_factory=list, description="Only these channel names or ids.")
    channels_exclude: list[str] = Field(default_factory=list, description="Never these channel names or ids.")


class SlackConfig(SlackChannels):
    """Slack channels through the Web API, with a bot token."""

    credential_fields: ClassVar[tuple[str, ...]] = ("bot_token",)

    bot_token: SecretStr | None = Field(None, description="The bot token (`xoxb-…`); never logged or printed.")
    base_url: str = Field("https://slack.com/api/", description="Web API base URL (tests point it at a local fake).")
    rescan_days: float | None = Field(
        7, ge=0, description="Polls list history from the newest message seen minus this (unset: the whole history)."
    )
    reply_edit_hours: float = Field(
        24, ge=0, description="Threads with a reply this recent are re-read on each poll to catch edits (0: never)."
    )
    run_budget_minutes: float = Field(
        30, ge=0, description="A run stops cleanly after this long (rate limits) and the next resumes (0: no limit)."
    )


class SlackExportConfig(SlackChannels):
    """A Slack admin export: the same documents as the Web API gives."""

    export_path: Path | None = Field(None, description="The export ZIP file or its unpacked folder.")
    workspace_url: str = Field("https://slack.com", description="e.g. https://kumo.slack.com (message links).")

"""Options of a ``confluence`` source (``ASKDOCS_CONFLUENCE_*`` for the ones a source leaves unset)."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field, SecretStr

from askdocs.connectors.config import ConnectorConfig


class ConfluenceConfig(ConnectorConfig):
    """Confluence Cloud spaces (or a CQL query), read over REST with an API token or a bearer token."""

    env_prefix: ClassVar[str | None] = "ASKDOCS_CONFLUENCE_"
    credential_fields: ClassVar[tuple[str, ...]] = ("email", "api_token", "bearer_token")

    base_url: str | None = Field(None, description="Your site, e.g. https://kumo.atlassian.net.")
    email: str | None = Field(None, description="The API user's e-mail (basic auth, with api_token).")
    api_token: SecretStr | None = Field(None, description="The API user's token (basic auth); never logged.")
    bearer_token: SecretStr | None = Field(None, description="Alternative to email + api_token: an OAuth 2.0 token.")
    spaces: list[str] = Field(default_factory=list, description='Space keys to index, e.g. ["ENG", "HR"].')
    cql: str | None = Field(None, description="Alternative scope: a CQL expression.")
    account_emails: Path | None = Field(
        None, description="CSV `account_id,email` for accounts whose e-mail the site hides (identity sync)."
    )
    space_access: dict[str, list[str]] = Field(
        default_factory=dict,
        validation_alias="ASKDOCS_SPACE_ACCESS",
        description='Who may read unrestricted pages per space, e.g. {"ENG": ["group:eng"]}; merged over every '
        "source and ASKDOCS_SPACE_ACCESS (spaces whose permissions are synced ignore it).",
    )

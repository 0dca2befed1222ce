"""The one typed configuration, read from ``ASKDOCS_*`` environment variables and ``.env``."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything configurable about askdocs; see README for the table of variables."""

    model_config = SettingsConfigDict(env_prefix="ASKDOCS_", env_file=".env", extra="ignore")

    data_dir: Path = Field(Path("data"), description="Where the embedded index and sync state live.")
    workspace_dir: Path = Field(Path("examples/workspace"), description="Folder the files connector indexes.")

    qdrant_url: str | None = Field(None, description="Use a Qdrant server/cluster instead of the embedded engine.")
    qdrant_api_key: SecretStr | None = None
    collection: str = Field("askdocs", pattern=r"^[A-Za-z0-9_-]{1,64}$")

    embedder_en: str = Field("minilm-l6-int8", description="Dense model for English (and other non-Japanese) text.")
    embedder_ja: str = Field("use-multilingual", description="Dense model for Japanese text.")
    chunk_tokens: int = Field(200, ge=32, le=512, description="Upper bound of a chunk in embedder tokens.")
    chunk_overlap_tokens: int = Field(30, ge=0, le=128)

    fusion: Literal["rrf", "dbsf"] = "rrf"
    rrf_k: int = Field(60, ge=1)
    dense_weight: float = Field(1.0, ge=0)
    sparse_weight: float = Field(1.0, ge=0)
    prefetch_limit: int = Field(100, ge=1, le=1000)
    bm25_k1: float = Field(1.2, gt=0)
    bm25_b: float = Field(0.75, ge=0, le=1)

    answer_top_k: int = Field(5, ge=1, le=20)
    answer_max_sentences: int = Field(3, ge=1, le=10)
    answer_min_support: float = Field(
        0.34, ge=0, le=1, description="Share of question terms a sentence must contain to count as evidence."
    )

    # --- Slack connector ---
    slack_bot_token: SecretStr | None = Field(None, description="Bot token (xoxb-…); never logged.")
    slack_base_url: str = Field("https://slack.com/api/", description="Web API base URL (tests point it locally).")
    slack_channels_include: list[str] = Field(default_factory=list, description="Only these channel names/ids.")
    slack_channels_exclude: list[str] = Field(default_factory=list, description="Never these channel names/ids.")

    # --- Confluence connector ---
    confluence_base_url: str | None = Field(None, description="e.g. https://your-site.atlassian.net")
    confluence_email: str | None = None
    confluence_api_token: SecretStr | None = Field(None, description="With confluence_email: basic auth; never logged.")
    confluence_bearer_token: SecretStr | None = Field(None, description="Alternative to email + API token.")
    confluence_spaces: list[str] = Field(default_factory=list, description="Space keys to index.")
    confluence_cql: str | None = Field(None, description="Alternative scope: a CQL expression.")
    space_access: dict[str, list[str]] = Field(
        default_factory=dict,
        description="space:<KEY> principal -> principals allowed to see it, e.g. {\"ENG\": [\"group:eng\"]}.",
    )

    # --- Google Docs connector ---
    google_credentials_file: Path | None = Field(None, description="Service-account or OAuth user JSON file.")
    google_subject: str | None = Field(None, description="User to impersonate (domain-wide delegation).")
    google_folder_ids: list[str] = Field(default_factory=list, description="Only documents under these folders.")
    google_include_shared_drives: bool = True
    google_include_sheets_slides: bool = False
    google_api_endpoint: str | None = Field(None, description="Drive API endpoint override (tests).")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    trust_identity_headers: bool = Field(
        True,
        description="Take the caller's identity from X-Askdocs-User / X-Askdocs-Groups (set by your auth proxy).",
    )

    @field_validator("qdrant_url")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @property
    def edge_path(self) -> Path:
        """Folder of the embedded Qdrant Edge shard."""
        return self.data_dir / "edge" / self.collection


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()

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

    fusion: Literal["rrf", "dbsf"] = Field("dbsf", description="Fusion for English (and other) queries.")
    rrf_k: int = Field(60, ge=1)
    dense_weight: float = Field(
        1.0,
        ge=0,
        description="RRF weight of the dense leg; Qdrant scores 1/((rank+1)/w + k - 1), i.e. w stretches ranks.",
    )
    sparse_weight: float = Field(1.0, ge=0, description="RRF weight of the BM25 leg.")
    fusion_ja: Literal["rrf", "dbsf"] = Field("rrf", description="Fusion for Japanese queries.")
    rrf_k_ja: int = Field(2, ge=1, description="RRF k for Japanese queries (BM25 leads, dense breaks ties).")
    dense_weight_ja: float = Field(0.2, ge=0, description="Dense RRF weight for Japanese queries.")
    prefetch_limit: int = Field(100, ge=1, le=1000)
    embedder_xling: str | None = Field(
        "use-multilingual",
        description="Multilingual model embedded on every chunk for cross-lingual search; empty turns it off.",
    )
    fusion_xling: Literal["rrf", "dbsf"] = Field("dbsf", description="Fusion inside the other-language block.")
    rrf_k_xling: int = Field(60, ge=1, description="RRF k inside the other-language block (fusion_xling=rrf).")
    dense_weight_xling: float = Field(1.0, ge=0, description="Multilingual leg's RRF weight in that block.")
    bm25_xling: list[Literal["en", "ja"]] = Field(
        ["ja"],
        description="Query languages whose BM25 leg also ranks the other language's chunks (Japanese questions "
        "share command and product names with English pages; English terms match Japanese chunks poorly).",
    )
    xling_weight: float = Field(
        0.6, ge=0, description="RRF weight of the other-language block against the query language's (k=60)."
    )
    xling_merge: Literal["rrf", "dbsf"] = Field("rrf", description="How the two language blocks are merged.")
    xling_min_cosine: float = Field(
        0.1, ge=-1, le=1, description="Other-language chunks below this multilingual cosine are left out."
    )
    bm25_k1: float = Field(1.2, gt=0)
    bm25_b: float = Field(0.75, ge=0, le=1)

    answer_top_k: int = Field(5, ge=1, le=20)
    answer_max_sentences: int = Field(3, ge=1, le=10)
    answer_min_support: float = Field(
        0.34, ge=0, le=1, description="Share of question terms a sentence must contain to count as evidence."
    )

    # --- LLM answers (any OpenAI-compatible endpoint; unset llm_model = offline extractive answers) ---
    llm_provider: Literal["openai", "azure"] = Field("openai", description="'azure' uses the AzureOpenAI client.")
    llm_base_url: str | None = Field(
        None, description="OpenAI-compatible base URL, e.g. http://127.0.0.1:8080/v1; Azure: the resource endpoint."
    )
    llm_model: str | None = Field(None, description="Model name (Azure: deployment name); setting it enables the LLM.")
    llm_api_key: SecretStr | None = Field(None, description="API key; falls back to OPENAI_API_KEY; never logged.")
    llm_api_version: str = Field("2024-10-21", description="Azure OpenAI API version.")
    llm_context_tokens: int = Field(3000, ge=64, le=200_000, description="Token budget for the packed sources.")
    llm_max_answer_tokens: int = Field(400, ge=16, le=16_000, description="max_tokens of the generated answer.")
    llm_temperature: float = Field(0.0, ge=0, le=2)
    llm_stop: list[str] = Field(default_factory=list, max_length=4, description="Stop sequences sent to the model.")
    llm_timeout_s: float = Field(60.0, gt=0, le=600, description="Per-request timeout (connect/read).")
    llm_retries: int = Field(2, ge=0, le=10, description="Retries on 429/5xx/connection errors, with backoff.")
    llm_retry_max_wait_s: float = Field(
        20.0, ge=0, le=300, description="Longest Retry-After honoured; a longer one fails at once with 503."
    )
    llm_relevance_floor: float = Field(
        0.34, ge=0, le=1, description="Share of question terms a hit must contain to be sent; none: refuse, no call."
    )
    llm_xling_relevance_floor: float = Field(
        0.3,
        ge=-1,
        le=1,
        description="Multilingual cosine a hit in the other language needs to be sent (its text or "
        "heading trail; unrelated pairs measured <= 0.18, related 0.30-0.50).",
    )
    llm_support_min: float = Field(
        0.5, ge=0, le=1, description="Share of a sentence's terms its cited sources must contain to count as supported."
    )
    llm_support_min_cosine: float | None = Field(
        None, ge=-1, le=1, description="Optional: embedding similarity that also counts as support (unset: lexical)."
    )

    # --- Slack connector ---
    slack_bot_token: SecretStr | None = Field(None, description="Bot token (xoxb-…); never logged.")
    slack_base_url: str = Field("https://slack.com/api/", description="Web API base URL (tests point it locally).")
    slack_channels_include: list[str] = Field(default_factory=list, description="Only these channel names/ids.")
    slack_channels_exclude: list[str] = Field(default_factory=list, description="Never these channel names/ids.")
    slack_export_path: Path | None = Field(None, description="An admin export ZIP/folder, for --source slack-export.")
    slack_workspace_url: str = Field("https://slack.com", description="e.g. https://kumo.slack.com (export links).")

    # --- Confluence connector ---
    confluence_base_url: str | None = Field(None, description="e.g. https://your-site.atlassian.net")
    confluence_email: str | None = None
    confluence_api_token: SecretStr | None = Field(None, description="With confluence_email: basic auth; never logged.")
    confluence_bearer_token: SecretStr | None = Field(None, description="Alternative to email + API token.")
    confluence_spaces: list[str] = Field(default_factory=list, description="Space keys to index.")
    confluence_cql: str | None = Field(None, description="Alternative scope: a CQL expression.")
    space_access: dict[str, list[str]] = Field(
        default_factory=dict,
        description='space:<KEY> principal -> principals allowed to see it, e.g. {"ENG": ["group:eng"]}.',
    )

    # --- Google Docs connector ---
    google_credentials_file: Path | None = Field(None, description="Service-account or OAuth user JSON file.")
    google_subject: str | None = Field(None, description="User to impersonate (domain-wide delegation).")
    google_folder_ids: list[str] = Field(default_factory=list, description="Only documents under these folders.")
    google_include_shared_drives: bool = True
    google_include_sheets_slides: bool = False
    google_api_endpoint: str | None = Field(None, description="Drive API endpoint override (tests).")

    # --- Scheduled re-indexing and operations ---
    sources_file: Path = Field(Path("askdocs.yaml"), description="Sources to keep in sync, with their schedules.")
    scheduler: bool = Field(True, description="Run the sync scheduler inside `askdocs serve` (embedded mode).")
    admin_key: SecretStr | None = Field(None, description="Enables POST /v1/sources/{name}/sync with this key.")
    log_format: Literal["text", "json"] = Field("text", description="'json' for structured logs.")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    trust_identity_headers: bool = Field(
        True,
        description="Take the caller's identity from X-Askdocs-User / X-Askdocs-Groups (set by your auth proxy).",
    )

    @field_validator("qdrant_url", "llm_base_url", "llm_model", "embedder_xling")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @property
    def llm_enabled(self) -> bool:
        """True when an LLM answer generator is configured."""
        return bool(self.llm_model)

    @property
    def edge_path(self) -> Path:
        """Folder of the embedded Qdrant Edge shard."""
        return self.data_dir / "edge" / self.collection


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()

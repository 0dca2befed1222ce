"""The one typed configuration, read from ``ASKDOCS_*`` environment variables and ``.env``."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

# Asymmetric JWS algorithms a bearer token may be signed with (never HS*, never "none").
ASYMMETRIC_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")


class AuthSettings(BaseModel):
    """Who is asking: OIDC bearer tokens and page sign-in, API keys, a trusted proxy, demo mode.

    Set with ``ASKDOCS_AUTH__<FIELD>`` (double underscore), e.g. ``ASKDOCS_AUTH__OIDC_ISSUER``. With nothing set,
    every caller is anonymous and sees public documents only; API keys (``askdocs keys``) always work.
    """

    oidc_issuer: str | None = Field(None, description="OpenID provider; enables bearer tokens (and page sign-in).")
    oidc_audience: str | None = Field(None, description="The `aud` bearer tokens must carry (default: client id).")
    oidc_client_id: str | None = Field(None, description="This app's client id; enables the page's sign-in.")
    oidc_client_secret: SecretStr | None = Field(None, description="Client secret (confidential client); never logged.")
    oidc_scopes: str = Field("openid email profile", description="Scopes the page's sign-in asks for.")
    oidc_algorithms: list[str] = Field(
        default_factory=lambda: list(ASYMMETRIC_ALGORITHMS), description="Accepted JWS algorithms (asymmetric only)."
    )
    oidc_leeway_s: int = Field(60, ge=0, le=300, description="Clock skew allowed on exp/nbf/iat.")
    oidc_groups_claim: str | None = Field(None, description="Claim listing the caller's groups -> group:idp:<name>.")
    oidc_jwks_ttl_s: int = Field(3600, ge=10, description="How long discovery and JWKS stay cached.")
    public_url: str | None = Field(
        None, description="External base URL (sign-in redirect; https makes cookies Secure)."
    )
    session_secret: SecretStr | None = Field(
        None, description="Signs the session cookie; default: a random secret kept in data_dir/auth/."
    )
    session_max_age_s: int = Field(8 * 3600, ge=60, description="Lifetime of a page sign-in.")
    principals_cache_s: int = Field(
        60, ge=0, le=3600, description="How long a caller's expanded principals are cached (an identity sync ends it)."
    )
    admin_emails: list[str] = Field(default_factory=list, description="Signed-in people who get role:admin.")
    admin_groups: list[str] = Field(default_factory=list, description="IdP/proxy groups whose members get role:admin.")
    proxy_enabled: bool = Field(False, description="Take identity from a sign-in proxy's headers (needs proxies).")
    trusted_proxies: list[str] = Field(default_factory=list, description="CIDRs the proxy connects from.")
    proxy_email_header: str = Field("X-Forwarded-Email", description="e.g. X-Auth-Request-Email (oauth2-proxy).")
    proxy_groups_header: str | None = Field("X-Forwarded-Groups", description="Comma-separated groups, or unset.")
    demo: bool = Field(False, description="`make run` only: the page offers 'sign in as' the sample people.")
    demo_people_file: Path | None = Field(None, description="Default: <workspace_dir>/_people.toml.")

    @field_validator("oidc_issuer", "oidc_client_id", "oidc_audience", "oidc_groups_claim", "public_url")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value.rstrip("/") if value else None

    @field_validator("oidc_issuer")
    @classmethod
    def _https_issuer(cls, value: str | None) -> str | None:
        if value is None:
            return None
        host = urlsplit(value).hostname or ""
        if not value.startswith("https://") and host not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"the OpenID issuer must use https (or be on this machine): {value}")
        return value

    @field_validator("oidc_algorithms")
    @classmethod
    def _asymmetric_only(cls, value: list[str]) -> list[str]:
        bad = [alg for alg in value if alg not in ASYMMETRIC_ALGORITHMS]
        if bad or not value:
            raise ValueError(f"only asymmetric algorithms are accepted ({', '.join(ASYMMETRIC_ALGORITHMS)}), got {bad}")
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _cidrs(cls, value: list[str]) -> list[str]:
        for cidr in value:
            ipaddress.ip_network(cidr, strict=False)  # ValueError names the bad entry
        return value

    @field_validator("admin_emails")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [email.strip().lower() for email in value]

    @model_validator(mode="after")
    def _proxy_needs_addresses(self) -> AuthSettings:
        if self.proxy_enabled and not self.trusted_proxies:
            raise ValueError("proxy_enabled needs trusted_proxies: the CIDRs your sign-in proxy connects from")
        return self

    @property
    def oidc_enabled(self) -> bool:
        """True when bearer tokens from an OpenID provider are accepted."""
        return self.oidc_issuer is not None

    @property
    def sign_in_enabled(self) -> bool:
        """True when the page offers sign-in with the OpenID provider."""
        return self.oidc_issuer is not None and self.oidc_client_id is not None

    @property
    def audience(self) -> str | None:
        """The audience bearer tokens must name."""
        return self.oidc_audience or self.oidc_client_id


class Settings(BaseSettings):
    """Everything configurable about askdocs; see README for the table of variables."""

    model_config = SettingsConfigDict(env_prefix="ASKDOCS_", env_file=".env", extra="ignore", env_nested_delimiter="__")

    data_dir: Path = Field(Path("data"), description="Where the embedded index and sync state live.")
    workspace_dir: Path = Field(
        Path("examples/workspace"), description="Folder of the default files source (no askdocs.yaml), demo people."
    )

    qdrant_url: str | None = Field(None, description="Use a Qdrant server/cluster instead of the embedded engine.")
    qdrant_api_key: SecretStr | None = None
    collection: str = Field("askdocs", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    database_url: SecretStr | None = Field(
        None,
        description="The shared SQL store (identity, scheduler leases): a SQLAlchemy URL such as "
        "postgresql+psycopg://user:pass@host/db for several machines; default: SQLite in data_dir.",
    )
    # --- collections on a Qdrant server/cluster (applied when askdocs creates one; README, "Scaling out"); the
    # on-disk and quantisation settings also shape a new embedded (Edge) index ---
    qdrant_shards: int = Field(1, ge=1, le=256, description="Shards of a new collection (spread over the nodes).")
    qdrant_replication_factor: int = Field(1, ge=1, le=16, description="Copies of each shard (nodes that may fail).")
    qdrant_write_consistency: int = Field(
        1, ge=1, le=16, description="Replicas that must confirm a write (at most the replication factor)."
    )
    qdrant_on_disk_vectors: bool = Field(False, description="Keep dense vectors on disk (memory-mapped), not in RAM.")
    qdrant_on_disk_payload: bool = Field(True, description="Keep payloads on disk; indexed fields stay in RAM.")
    qdrant_quantization: Literal["none", "int8"] = Field(
        "none", description="int8: scalar quantisation of dense vectors (4x smaller in RAM, rescored from originals)."
    )

    embedder_en: str = Field("minilm-l6-int8", description="Dense model for English (and other non-Japanese) text.")
    embedder_ja: str = Field("use-multilingual", description="Dense model for Japanese text.")
    # --- remote embedders (ASKDOCS_EMBEDDER_EN/_JA = openai:<model> or openai-compatible:<model>@<base URL>) ---
    embedder_api_key: SecretStr | None = Field(
        None, description="Remote embedder key; falls back to OPENAI_API_KEY (AZURE_OPENAI_API_KEY); never logged."
    )
    embedder_azure_endpoint: str | None = Field(
        None, description="Azure OpenAI endpoint: openai:<deployment> then goes through the AzureOpenAI client."
    )
    embedder_api_version: str = Field("2024-10-21", description="Azure OpenAI API version for embeddings.")
    embedder_batch_size: int = Field(64, ge=1, le=2048, description="Most passages in one embeddings request.")
    embedder_batch_tokens: int = Field(8000, ge=64, le=300_000, description="Most tokens in one embeddings request.")
    embedder_concurrency: int = Field(4, ge=1, le=64, description="Embeddings requests in flight at once.")
    embedder_lookahead_batches: int = Field(
        4, ge=0, le=32, description="Document batches a sync embeds ahead while it writes (remote embedders)."
    )
    embedder_timeout_s: float = Field(30.0, gt=0, le=600, description="Per-request timeout of a remote embedder.")
    embedder_retries: int = Field(5, ge=0, le=20, description="Retries on 429/5xx/timeouts, honouring Retry-After.")
    embedder_retry_max_wait_s: float = Field(
        60.0, ge=0, le=600, description="Longest wait between retries; a longer Retry-After fails the request."
    )
    embedder_price_per_million_tokens: float | None = Field(
        None, ge=0, description="US$ per million tokens for the cost logged per sync (OpenAI's list prices known)."
    )
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
    xling_dense_merge: Literal["sum", "max", "fusion"] = Field(
        "sum",
        description="How a chunk's text and heading-trail cosines combine in that block: 'sum' (text + "
        "xling_trail_weight x trail), 'max' (the higher one) or 'fusion' (two legs of fusion_xling).",
    )
    xling_trail_weight: float = Field(0.25, ge=0, description="Heading-trail cosine's weight in the 'sum' merge.")
    bm25_xling: list[Literal["en", "ja"]] = Field(
        [],
        description="Query languages whose BM25 leg also ranks the other language's chunks (measured: it lowers "
        "both xling-docs directions once text and heading-trail cosines combine by their maximum).",
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

    # --- Extraction of PDF, Word, PowerPoint, Excel and CSV files (in a worker process) ---
    extract_timeout_s: float = Field(30.0, gt=0, le=3600, description="Longest extraction of one file.")
    extract_memory_mb: int = Field(1024, ge=256, le=65536, description="Address-space limit of the extraction worker.")
    extract_max_file_mb: int = Field(50, ge=1, le=4096, description="Larger files are reported, never downloaded.")
    extract_max_unpacked_mb: int = Field(
        256, ge=1, le=65536, description="Largest unpacked size of an Office file (ZIP bomb guard)."
    )
    extract_ocr: bool = Field(False, description="OCR image-only PDFs with Tesseract (apt: tesseract-ocr-jpn).")
    extract_ocr_languages: str = Field("jpn+eng", pattern=r"^[a-z_]+(\+[a-z_]+)*$", description="Tesseract -l.")

    # --- Scheduled re-indexing and operations ---
    sources_file: Path = Field(Path("askdocs.yaml"), description="Sources to keep in sync, with their schedules.")
    scheduler: bool = Field(True, description="Run the sync scheduler inside `askdocs serve` (embedded mode).")
    scheduler_lease_seconds: float = Field(
        60.0,
        ge=2,
        le=3600,
        description="How long a scheduler's lease on a source lasts without renewal (renewed every third of it); "
        "a crashed scheduler's sources are synced elsewhere after this.",
    )
    log_format: Literal["text", "json"] = Field("text", description="'json' for structured logs.")
    progress_every_s: float = Field(
        10.0, ge=0, le=3600, description="Seconds between sync progress lines when stderr is not a terminal."
    )

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    auth: AuthSettings = Field(default_factory=AuthSettings, description="Who is asking (ASKDOCS_AUTH__*).")

    # --- Limits and web hardening (README "Security") ---
    max_request_bytes: int = Field(
        1_048_576, ge=1024, le=1_073_741_824, description="Largest request body accepted; larger ones get 413."
    )
    max_filter_values: int = Field(
        1000, ge=1, le=100_000, description="Most values in one filter list (sources, doc_ids); more gets 422."
    )
    max_filter_value_chars: int = Field(
        512, ge=8, le=65_536, description="Longest string in a filter list; longer gets 422."
    )
    ask_concurrency_per_client: int = Field(
        4, ge=1, le=1000, description="POST /v1/ask requests one client may have in flight; more get 429."
    )
    trusted_hosts: list[str] = Field(
        default_factory=lambda: ["localhost", "127.0.0.1", "::1"],
        min_length=1,
        description="Host header values served (port ignored; '*.example.com' matches subdomains, '*' any); "
        "others get 400, which stops DNS-rebinding pages.",
    )

    @field_validator("qdrant_url", "llm_base_url", "llm_model", "embedder_azure_endpoint", "embedder_xling")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        return value or None

    @property
    def llm_enabled(self) -> bool:
        """True when an LLM answer generator is configured."""
        return bool(self.llm_model)

    @property
    def auth_dir(self) -> Path:
        """Folder of the API key store and the generated session secret."""
        return self.data_dir / "auth"

    @property
    def demo_people_file(self) -> Path:
        """The sample people demo mode offers to sign in as."""
        return self.auth.demo_people_file or self.workspace_dir / "_people.toml"

    @property
    def database_path(self) -> Path:
        """The SQLite file of the shared SQL store when ``database_url`` is not set."""
        return self.data_dir / "askdocs.sqlite3"

    @property
    def edge_path(self) -> Path:
        """Folder of the embedded Qdrant Edge shard."""
        return self.data_dir / "edge" / self.collection


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()

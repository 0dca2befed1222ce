"""Provider specs of remote embedders (``openai:<model>``, ``openai-compatible:<model>@<base URL>``) and options."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from askdocs.errors import ConfigError
from askdocs.settings import Settings

PROVIDERS = ("openai", "openai-compatible")
# Query and passage prefixes by model family (instruction-tuned models were trained with them).
PREFIXES: dict[str, tuple[str, str]] = {
    "e5": ("query: ", "passage: "),
    "bge": ("Represent this sentence for searching relevant passages: ", ""),
    "nomic": ("search_query: ", "search_document: "),
    "none": ("", ""),
}
# Known OpenAI models: dimension, input limit in tokens, US$ per million tokens (list price).
OPENAI_MODELS: dict[str, tuple[int, int, float]] = {
    "text-embedding-3-small": (1536, 8191, 0.02),
    "text-embedding-3-large": (3072, 8191, 0.13),
    "text-embedding-ada-002": (1536, 8191, 0.10),
}
_SHORTENABLE = ("text-embedding-3-",)
_USERINFO = re.compile(r"//[^/@;]*@")


def is_remote(name: str) -> bool:
    """Whether ``name`` names a remote provider (``openai:`` / ``openai-compatible:``)."""
    return name.split(":", 1)[0] in PROVIDERS and ":" in name


def _family(model: str) -> str:
    lowered = model.lower()
    if "e5" in re.split(r"[^a-z0-9]+", lowered):
        return "e5"
    if "nomic-embed" in lowered:
        return "nomic"
    if ("bge-" in lowered and "m3" not in lowered) or "mxbai-embed" in lowered:
        return "bge"
    return "none"


@dataclass(frozen=True)
class RemoteSpec:
    """A parsed provider spec."""

    provider: str
    model: str
    base_url: str | None = None
    dimensions: int | None = None
    max_tokens: int = 512
    prefixes: str = "none"

    @classmethod
    def parse(cls, text: str) -> RemoteSpec:
        """Parse ``openai:<model>[;opt=v]`` or ``openai-compatible:<model>@<base URL>[;opt=v]``."""
        shown = _USERINFO.sub("//***@", text)  # an error never repeats credentials
        provider, _, rest = text.partition(":")
        if provider not in PROVIDERS or not rest:
            raise ConfigError(f"embedder {shown!r}: expected openai:<model> or openai-compatible:<model>@<base URL>")
        head, *options = rest.split(";")
        model, base_url = head, None
        if provider == "openai-compatible":
            found = re.match(r"^(.+?)@(https?://.+)$", head)
            parts = urlsplit(found.group(2)) if found else None
            if found is None or parts is None or not parts.hostname:
                raise ConfigError(f"embedder {shown!r}: expected openai-compatible:<model>@<http(s) base URL>")
            if parts.username or parts.password:
                raise ConfigError(
                    f"embedder {shown!r}: the base URL must not carry credentials; set ASKDOCS_EMBEDDER_API_KEY"
                )
            model, base_url = found.group(1), found.group(2)
        if not model.strip():
            raise ConfigError(f"embedder {shown!r}: the model name is empty")
        known = OPENAI_MODELS.get(model)
        spec = cls(provider, model, base_url, None, known[1] if known else 512, _family(model))
        return spec._with_options(shown, options)

    def _with_options(self, text: str, options: list[str]) -> RemoteSpec:
        spec = self
        for option in filter(None, (o.strip() for o in options)):
            key, _, value = option.partition("=")
            if key in ("dimensions", "max_tokens"):
                if not value.isdigit() or not 0 < int(value) <= 65536:
                    raise ConfigError(f"embedder {text!r}: {key} must be a positive integer")
                spec = (
                    replace(spec, dimensions=int(value))
                    if key == "dimensions"
                    else replace(spec, max_tokens=int(value))
                )
            elif key == "prefixes" and value in PREFIXES:
                spec = replace(spec, prefixes=value)
            else:
                raise ConfigError(
                    f"embedder {text!r}: unknown option {option!r} "
                    f"(dimensions=N, max_tokens=N, prefixes={'|'.join(PREFIXES)})"
                )
        if spec.dimensions and spec.provider == "openai" and not spec.model.startswith(_SHORTENABLE):
            raise ConfigError(f"embedder {text!r}: {spec.model} does not support dimensions")
        return spec

    @property
    def vector_name(self) -> str:
        """The index's name for this model's vectors (the endpoint's address is not part of it)."""
        safe = re.sub(r"[^A-Za-z0-9._-]+", "_", self.model)
        return f"api-{safe}" + (f"-{self.dimensions}d" if self.dimensions else "")


@dataclass
class RemoteOptions:
    """Request shaping and credentials shared by every remote embedder (from ``Settings``)."""

    api_key: str | None = None
    azure_endpoint: str | None = None
    api_version: str = "2024-10-21"
    batch_size: int = 64
    batch_tokens: int = 8000
    concurrency: int = 4
    timeout_s: float = 30.0
    retries: int = 5
    retry_max_wait_s: float = 60.0
    price_per_million_tokens: float | None = None
    tiktoken_dir: str | None = None  # where OpenAI's tokenizer tables are seeded (kept offline)
    backoff_base_s: float = 0.5  # first retry wait without a Retry-After (doubles, jittered)

    @classmethod
    def from_settings(cls, settings: Settings) -> RemoteOptions:
        """The options the settings name."""
        key = settings.embedder_api_key.get_secret_value() if settings.embedder_api_key else None
        return cls(
            api_key=key,
            azure_endpoint=settings.embedder_azure_endpoint,
            api_version=settings.embedder_api_version,
            batch_size=settings.embedder_batch_size,
            batch_tokens=settings.embedder_batch_tokens,
            concurrency=settings.embedder_concurrency,
            timeout_s=settings.embedder_timeout_s,
            retries=settings.embedder_retries,
            retry_max_wait_s=settings.embedder_retry_max_wait_s,
            price_per_million_tokens=settings.embedder_price_per_million_tokens,
            tiktoken_dir=str(settings.data_dir / "tiktoken"),
        )

"""Source configuration (``askdocs.yaml``): which connectors to sync, with what scope, on what schedule.

Credentials are referenced by environment variable *name*; values never appear in the file, logs or errors.
"""

from __future__ import annotations

import logging
import os
import re
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from pydantic_settings import SettingsError

from askdocs import redaction
from askdocs.connectors.config import ConnectorConfig
from askdocs.connectors.confluence.config import ConfluenceConfig
from askdocs.connectors.registry import CONNECTORS, ConnectorType
from askdocs.errors import ConfigError, SourceError
from askdocs.settings import Settings

log = logging.getLogger(__name__)
_DURATION = re.compile(r"^\s*(\d+)\s*(s|m|h|d)\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


class SourcesConfigError(ConfigError):
    """The sources file is missing, unreadable or invalid; the message names the bad key."""


def parse_duration(text: str) -> timedelta:
    """'30s', '5m', '2h', '1d' -> timedelta."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"expected a duration like '30s', '5m', '2h' or '1d', got {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


class Schedule(BaseModel):
    """Exactly one of ``every`` (a duration) or ``cron`` (a five-field crontab line, UTC)."""

    model_config = ConfigDict(extra="forbid")

    every: str | None = None
    cron: str | None = None

    @field_validator("every")
    @classmethod
    def _duration(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value) < timedelta(seconds=1):
            raise ValueError("must be at least 1s")
        return value

    @field_validator("cron")
    @classmethod
    def _crontab(cls, value: str | None) -> str | None:
        if value is not None:
            CronTrigger.from_crontab(value, timezone="UTC")
        return value

    @model_validator(mode="after")
    def _one(self) -> Schedule:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give exactly one of 'every' or 'cron'")
        return self

    def trigger(self, start: datetime) -> BaseTrigger:
        """The APScheduler trigger for this schedule; an interval's first fire time is ``start``."""
        if self.cron is not None:
            return CronTrigger.from_crontab(self.cron, timezone="UTC")
        seconds = int(parse_duration(self.every or "0s").total_seconds())
        return IntervalTrigger(seconds=seconds, start_date=start, timezone="UTC")


class SourceConfig(BaseModel):
    """One source: connector type, its options (the type's ``Config`` fields), credential env var names, schedules."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z0-9._-]{1,64}$")
    type: str = Field(description="A source type of connectors.registry.CONNECTORS.")
    enabled: bool = True
    schedule: Schedule = Schedule(every="15m")
    prune: Schedule | None = Field(Schedule(every="24h"), description="Full re-read + prune; null to disable.")
    identity: Schedule | None = Field(
        Schedule(every="1h"), description="Identity sync (groups, members, grants) where the type has one; null: off."
    )
    permissions: Schedule | None = Field(
        Schedule(every="10m"), description="Permission refresh without a content read, where the type has one."
    )
    path: Path | None = Field(None, description="Folder, for type 'files' (its Config's `path`).")
    credentials: dict[str, str] = Field(default_factory=dict, description="Credential field -> env var NAME.")
    options: dict[str, Any] = Field(default_factory=dict, description="Fields of the type's Config.")

    @field_validator("type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if value not in CONNECTORS:
            raise ValueError(f"unknown source type {value!r}; choose one of: {', '.join(CONNECTORS)}")
        return value

    @model_validator(mode="after")
    def _fields_belong_to_type(self) -> SourceConfig:
        entry = CONNECTORS[self.type]
        self.options = _current_names(self.name, "options", self.options, entry)
        self.credentials = _current_names(self.name, "credentials", self.credentials, entry)
        config = entry.config
        _check_names(self.type, config, self.options, self.credentials)
        if self.type == "files" and "path" in self.options:
            if self.path is not None:
                raise ValueError("give a files source's path once: 'path' or 'options.path'")
            self.path = Path(self.options.pop("path"))
        if self.type == "files" and self.path is None:
            raise ValueError("a files source needs 'path'")
        try:
            checked = config.model_validate(self.options | ({"path": self.path} if self.type == "files" else {}))
        except ValidationError as exc:
            raise ValueError(_describe(exc, "", "options.")) from None
        self.options = {key: getattr(checked, key) for key in self.options}
        return self

    def connector_config(self) -> ConnectorConfig:
        """This source's ``Config``: its options and credentials (read from the environment now) over the type's
        ``ASKDOCS_*`` variables; ``SourceError`` names a credential variable that is not set."""
        values: dict[str, Any] = dict(self.options)
        for key, env in self.credentials.items():
            value = os.environ.get(env)
            if value is None:
                raise SourceError(f"source {self.name!r}: environment variable {env} (for {key}) is not set")
            redaction.register(value)
            values[key] = value
        if self.path is not None:
            values["path"] = self.path
        try:
            config = CONNECTORS[self.type].config.resolve(values)
        except (ValidationError, SettingsError) as exc:
            raise ConfigError(f"source {self.name!r}: {_problem(exc)}") from None
        for secret in config.secrets():
            redaction.register(secret)
        return config


def _check_names(
    source_type: str, config: type[ConnectorConfig], options: dict[str, Any], credentials: dict[str, str]
) -> None:
    """``ValueError`` naming an option the type does not have (and the valid ones), a credential given as an option,
    or a credential that is not one or does not name an environment variable."""
    for key in options:
        if key in config.credential_fields:
            raise ValueError(f"options.{key} is a credential: name its environment variable under credentials")
        if key not in config.model_fields:
            raise ValueError(
                f"options.{key} is not an option of a {source_type} source (valid: {', '.join(config.options())})"
            )
    for key, env in credentials.items():
        if key not in config.credential_fields:
            have = ", ".join(config.credential_fields) or "none"
            raise ValueError(f"credentials.{key} is not a credential of a {source_type} source (credentials: {have})")
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", env):
            raise ValueError(f"credentials.{key} must name an environment variable, not hold a value")


def _current_names(source: str, group: str, given: dict[str, Any], entry: ConnectorType) -> dict[str, Any]:
    """``given`` with legacy names (``slack_channels_exclude``: the global setting an option once was) renamed to
    the Config's field, with a logged deprecation warning naming the new key."""
    renamed: dict[str, Any] = {}
    for key, value in given.items():
        current = key.removeprefix(entry.legacy_prefix) if entry.legacy_prefix else key
        if current != key and current in entry.config.model_fields and current not in given:
            log.warning("source %r: %s.%s is deprecated; call it %s.%s", source, group, key, group, current)
            key = current
        renamed[key] = value
    return renamed


class SourcesFile(BaseModel):
    """The whole ``askdocs.yaml``."""

    model_config = ConfigDict(extra="forbid")

    sources: list[SourceConfig]

    @field_validator("sources")
    @classmethod
    def _unique(cls, sources: list[SourceConfig]) -> list[SourceConfig]:
        names = [s.name for s in sources]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"source names must be unique: {', '.join(duplicates)}")
        return sources

    def get(self, name: str) -> SourceConfig:
        """The source called ``name``."""
        for source in self.sources:
            if source.name == name:
                return source
        raise KeyError(name)


def _describe(exc: ValidationError, path: str, field_prefix: str = "") -> str:
    """``path: where: message; ...``; with ``field_prefix`` (a Config's options) as ``options.key: rest: message``."""
    parts = []
    for error in exc.errors():
        loc = list(error["loc"])
        where = _location(loc)
        if field_prefix and loc:
            rest = _location(loc[1:])
            where = f"{field_prefix}{loc[0]}" + (f": {rest}" if rest else "")
        message = error["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {message}" if where else message)
    return f"{path}: " * bool(path) + "; ".join(parts)


def _problem(exc: ValidationError | SettingsError) -> str:
    """What is wrong with a value read from the environment (a variable that is not JSON where JSON is due)."""
    return _describe(exc, "") if isinstance(exc, ValidationError) else str(exc)


def _location(loc: list[int | str]) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")


def load_sources(path: Path) -> SourcesFile:
    """Read and validate the sources file; ``SourcesConfigError`` names the file and the bad key."""
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SourcesConfigError(f"{path}: file not found") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SourcesConfigError(f"{path}: cannot read: {str(exc).splitlines()[0]}") from None
    try:
        return SourcesFile.model_validate(raw or {})
    except ValidationError as exc:
        raise SourcesConfigError(_describe(exc, str(path))) from None


def default_sources(settings: Settings) -> SourcesFile:
    """Without a sources file: the files connector over ``workspace_dir``, polled every minute."""
    return SourcesFile(
        sources=[SourceConfig(name="files", type="files", path=settings.workspace_dir, schedule=Schedule(every="60s"))]
    )


def configured_sources(settings: Settings) -> SourcesFile:
    """The sources of ``sources_file``, or the files source over ``workspace_dir`` without one."""
    path = settings.sources_file
    return load_sources(path) if path.exists() else default_sources(settings)


def space_access(sources: SourcesFile) -> dict[str, list[str]]:
    """Confluence space key -> principals allowed to see it: ``ASKDOCS_SPACE_ACCESS`` and every confluence
    source's ``space_access`` option; a key given two different lists is a ``ConfigError`` (no silent winner)."""
    try:
        from_env = ConfluenceConfig.resolve({}).space_access
    except (ValidationError, SettingsError) as exc:
        raise ConfigError(
            f"confluence variables (ASKDOCS_CONFLUENCE_*, ASKDOCS_SPACE_ACCESS): {_problem(exc)}"
        ) from None
    merged = {key: sorted(set(allowed)) for key, allowed in from_env.items()}
    origin = dict.fromkeys(merged, "ASKDOCS_SPACE_ACCESS")
    for source in sources.sources:
        if source.type != "confluence":
            continue
        for key, allowed in source.options.get("space_access", {}).items():
            if key in merged and merged[key] != sorted(set(allowed)):
                raise ConfigError(
                    f"space_access of {key} differs between {origin[key]} and source {source.name!r}: "
                    "give it once, or the same principals in both"
                )
            merged[key], origin[key] = sorted(set(allowed)), f"source {source.name!r}"
    return merged

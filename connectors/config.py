"""The base of every connector's ``Config``: one source's options, typed and validated, secrets as ``SecretStr``.

A source in ``askdocs.yaml`` gives its options by field name and its credentials as environment variable *names*
(``credential_fields``). ``resolve`` fills what the source leaves unset from the type's environment variables
(``ASKDOCS_SLACK_BOT_TOKEN``, … in the environment or ``.env``): that is how an ad-hoc ``askdocs sync --type`` run,
and a deployment configured by variables only, are set up.
"""

from __future__ import annotations

from functools import cache
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class ConnectorConfig(BaseModel):
    """One source's options. Subclasses set ``env_prefix`` (``None``: nothing is read from the environment) and
    name the fields that are credentials (given in ``askdocs.yaml`` only as environment variable names)."""

    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True, loc_by_alias=False)

    env_prefix: ClassVar[str | None] = None
    credential_fields: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def options(cls) -> list[str]:
        """The fields a source gives under ``options`` (every field but the credentials)."""
        return [name for name in cls.model_fields if name not in cls.credential_fields]

    @classmethod
    def env_name(cls, field: str) -> str | None:
        """The environment variable that sets ``field`` when the source leaves it unset (``None``: none does)."""
        alias = cls.model_fields[field].validation_alias
        if isinstance(alias, str):
            return alias
        return f"{cls.env_prefix}{field}".upper() if cls.env_prefix is not None else None

    @classmethod
    def resolve(cls, values: dict[str, Any]) -> Self:
        """``values`` (a source's options and credentials) over the environment's values for the rest
        (``pydantic.ValidationError`` names the bad field)."""
        defaults = _from_environment(cls)().model_dump(exclude=set(values)) if cls.env_prefix is not None else {}
        return cls.model_validate({**defaults, **values})

    def secrets(self) -> list[str]:
        """Credential values this config holds, for ``askdocs.redaction`` to mask."""
        return [value.get_secret_value() for value in dict(self).values() if isinstance(value, SecretStr)]


@cache
def _from_environment(config: type[ConnectorConfig]) -> type[BaseSettings]:
    """``config`` read from ``<env_prefix><FIELD>`` variables and ``.env`` (other variables ignored)."""
    settings = SettingsConfigDict(
        env_prefix=config.env_prefix or "", env_file=".env", extra="ignore", validate_by_name=True
    )
    return type(f"{config.__name__}FromEnvironment", (BaseSettings, config), {"model_config": settings})

"""Demo mode (``make run``): the sample workspace's fictional people, and the start-up exposure check."""

from __future__ import annotations

import ipaddress
import tomllib
from pathlib import Path

from pydantic import BaseModel, Field, ValidationError

from askdocs.api.auth.principals import EMAIL, GROUP, Identity
from askdocs.models import PUBLIC
from askdocs.settings import Settings

LOOPBACK_NAMES = {"localhost", "ip6-localhost"}


class DemoPerson(BaseModel):
    """One fictional person of the sample workspace, with the workspace groups they belong to."""

    name: str = Field(min_length=1)
    title: str = ""
    email: str = Field(pattern=EMAIL.pattern)
    groups: list[str] = Field(default_factory=list)

    def identity(self) -> Identity:
        """The principals this person holds (the sample ACLs name plain ``group:<name>`` groups)."""
        groups = [f"group:{g}" for g in self.groups if GROUP.match(g)]
        return Identity(
            via="demo", principals=(PUBLIC, f"user:{self.email}", *groups), email=self.email, name=self.name
        )


class _PeopleFile(BaseModel):
    person: list[DemoPerson]


def load_people(path: Path) -> dict[str, DemoPerson]:
    """The people in ``path`` by e-mail; ``ValueError`` naming the file when it is missing or invalid."""
    try:
        people = _PeopleFile.model_validate(tomllib.loads(path.read_text(encoding="utf-8"))).person
    except (OSError, tomllib.TOMLDecodeError, ValidationError) as exc:
        raise ValueError(f"demo mode needs the sample people in {path}: {str(exc).splitlines()[0]}") from None
    return {p.email.lower(): p for p in people}


def is_loopback(host: str) -> bool:
    """True when ``host`` (a bind address or client address) can only be reached from this machine."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def exposure_problem(settings: Settings, host: str) -> str | None:
    """Why serving on ``host`` would be unsafe with this configuration, naming the setting to change; else None."""
    if is_loopback(host) or settings.auth.trusted_proxies:
        return None
    if settings.auth.demo:
        return (
            f"demo mode lets anyone sign in as any sample person, and askdocs would listen on {host}: bind to "
            "127.0.0.1 (ASKDOCS_HOST), set ASKDOCS_AUTH__DEMO=false, or list your proxy in "
            "ASKDOCS_AUTH__TRUSTED_PROXIES"
        )
    return None

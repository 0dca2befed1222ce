"""Who a caller is (an ``Identity``) and the ACL principals that follow from it."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from askdocs.models import ADMIN, PUBLIC
from askdocs.settings import AuthSettings

EMAIL = re.compile(r"^[^@\s,]+@[^@\s,]+$")
GROUP = re.compile(r"^[A-Za-z0-9._:@+-]{1,128}$")
IDP_GROUP = "group:idp:"

Via = Literal["anonymous", "api-key", "bearer", "session", "proxy", "demo"]


class AuthError(Exception):
    """A presented credential is not acceptable; ``status`` is 401 (who?) or 403 (not allowed)."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


@dataclass(frozen=True)
class Identity:
    """The verified caller: how it was established and the principals it holds (``public`` always)."""

    via: Via
    principals: tuple[str, ...] = (PUBLIC,)
    email: str | None = None
    name: str = field(default="", compare=False)

    @property
    def is_admin(self) -> bool:
        """True when the caller may see operational detail and trigger syncs."""
        return ADMIN in self.principals


ANONYMOUS = Identity(via="anonymous")


def checked_email(value: str, what: str) -> str:
    """``value`` lower-cased, or ``AuthError`` naming ``what`` when it is no e-mail address."""
    email = value.strip().lower()
    if not EMAIL.match(email):
        raise AuthError(f"{what} is not an email address", 400)
    return email


def person(via: Via, email: str, idp_groups: list[str], settings: AuthSettings) -> Identity:
    """A signed-in person: ``user:<email>``, ``group:idp:<g>`` per IdP group, ``role:admin`` when configured."""
    groups = [g for g in dict.fromkeys(idp_groups) if GROUP.match(g)]
    principals = [PUBLIC, f"user:{email}", *(f"{IDP_GROUP}{g}" for g in groups)]
    if email in settings.admin_emails or set(groups) & set(settings.admin_groups):
        principals.append(ADMIN)
    return Identity(via=via, principals=tuple(principals), email=email)


def with_spaces(principals: tuple[str, ...], space_access: dict[str, list[str]]) -> list[str]:
    """``principals`` plus the ``space:<KEY>`` principals configuration grants to any of them."""
    return list(principals) + spaces_for(list(principals), space_access)


def spaces_for(principals: list[str], space_access: dict[str, list[str]]) -> list[str]:
    """``space:<KEY>`` principals granted by configuration to any of ``principals``."""
    held = set(principals)
    return [f"space:{key}" for key, allowed in sorted(space_access.items()) if held & set(allowed)]

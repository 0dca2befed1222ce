"""The README's source tables, written from the registry: ``python -m askdocs.connectors.docs [README.md]``.

A block between ``<!-- sources -->`` and ``<!-- /sources -->`` lists the source types; one between
``<!-- options: TYPE -->`` and ``<!-- /options -->`` lists that type's options, each with the variable that sets it
when a source leaves it unset. A test checks that the README is what this module writes.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from askdocs.connectors.registry import CONNECTORS

_BLOCK = re.compile(r"(<!-- (?:sources|options: ([a-z-]+)) -->\n).*?(<!-- /(?:sources|options) -->)", re.DOTALL)


def sources_table() -> str:
    """Every source type, what it reads and its credentials."""
    rows = ["| type | reads | credentials (`askdocs.yaml`: field -> variable NAME) |", "|---|---|---|"]
    for name, entry in CONNECTORS.items():
        credentials = ", ".join(f"`{field}`" for field in entry.config.credential_fields) or "none"
        rows.append(f"| `{name}` | {entry.description} | {credentials} |")
    return "\n".join(rows) + "\n"


def options_table(source_type: str) -> str:
    """The options of ``source_type``'s Config: name, variable, default, meaning; credentials marked."""
    config = CONNECTORS[source_type].config
    rows = ["| option | variable (when unset) | default | meaning |", "|---|---|---|---|"]
    for name, field in config.model_fields.items():
        shown = f"`{name}` (credential)" if name in config.credential_fields else f"`{name}`"
        variable = config.env_name(name)
        env = f"`{variable}`" if variable else "—"
        meaning = (field.description or "").replace("|", "\\|")
        rows.append(f"| {shown} | {env} | {_default(field)} | {meaning} |")
    return "\n".join(rows) + "\n"


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value: Any = field.get_default(call_default_factory=True)
    return "unset" if value is None else f"`{json.dumps(value)}`"


def render(readme: str) -> str:
    """``readme`` with every generated block written anew."""

    def block(match: re.Match[str]) -> str:
        body = options_table(match.group(2)) if match.group(2) else sources_table()
        return f"{match.group(1)}{body}{match.group(3)}"

    return _BLOCK.sub(block, readme)


def documented_types(readme: str) -> list[str]:
    """The source types the README has an options block for."""
    return [match.group(2) for match in _BLOCK.finditer(readme) if match.group(2)]


def main(argv: list[str]) -> None:
    """Rewrite the README's generated blocks in place."""
    path = Path(argv[0] if argv else "README.md")
    path.write_text(render(path.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])

"""Files connector: a folder of Markdown, text, HTML, PDF, Office and CSV files, with access rules in ``_acl.toml``.

PDF, Word, PowerPoint, Excel and CSV files are handed on as bytes (``Document.blob``); ingest extracts them.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections import Counter
from collections.abc import Generator, Iterator
from datetime import UTC, datetime
from fnmatch import fnmatchcase
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from askdocs.connectors.base import Checkpoint, ConnectorFailure, DocumentDeleted, Skipped
from askdocs.connectors.files.config import FilesConfig
from askdocs.connectors.parsing import html_sections, markdown_sections, parse_front_matter, text_sections
from askdocs.formats import EXTRACTED_SUFFIXES, FORMAT_NAMES, too_big
from askdocs.models import PUBLIC, Blob, Document, Section, validate_principal
from askdocs.settings import Settings

ACL_FILE = "_acl.toml"
SUFFIXES = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".html": "html", ".htm": "html",
            **{suffix: FORMAT_NAMES[mime] for suffix, mime in EXTRACTED_SUFFIXES.items()}}  # fmt: skip
MAX_BYTES = 10 * 1024 * 1024
DEFAULT_MAX_FILE_MB = 50


class AclRule(BaseModel):
    """Files whose relative path matches ``pattern`` (glob, ``*`` spans folders) get ``principals``."""

    model_config = ConfigDict(extra="forbid")

    pattern: str
    principals: list[str]

    @field_validator("principals")
    @classmethod
    def _valid(cls, principals: list[str]) -> list[str]:
        if not principals:
            raise ValueError("a rule needs at least one principal")
        return [validate_principal(p) for p in principals]


class AclFile(BaseModel):
    """The sidecar: first matching rule wins, otherwise ``default``."""

    # Unknown keys are errors: a typo such as ``[[rules]]`` must fail closed, not silently make everything public.
    model_config = ConfigDict(extra="forbid")

    default: list[str] = [PUBLIC]
    rule: list[AclRule] = []

    @field_validator("default")
    @classmethod
    def _valid_default(cls, principals: list[str]) -> list[str]:
        if not principals:
            raise ValueError("default needs at least one principal")
        return [validate_principal(p) for p in principals]

    def principals_for(self, relpath: str) -> list[str]:
        """The principals of the file at ``relpath`` (``/`` separators)."""
        for rule in self.rule:
            if fnmatchcase(relpath, rule.pattern):
                return rule.principals
        return self.default


def _parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


class FilesConnector:
    """Loads, polls and lists a folder; document ids are ``files:<relative path>``."""

    source = "files"

    def __init__(self, root: Path, base_url: str | None = None, max_file_mb: int = DEFAULT_MAX_FILE_MB) -> None:
        self.root = Path(root)
        self.base_url = base_url
        self.max_file_mb = max_file_mb

    def _doc_id(self, relpath: str) -> str:
        return f"{self.source}:{relpath}"

    def _files(self) -> list[Path]:
        return self._scan()[0]

    def _scan(self) -> tuple[list[Path], list[Skipped]]:
        """Supported files, and what was left out by reason: hidden entries (counted once, not their contents)
        and unsupported types; the access rules file is the connector's own and is neither."""
        found, skipped = [], Counter[str]()
        for path in sorted(self.root.rglob("*")):
            parts = path.relative_to(self.root).parts
            hidden = [n for n, part in enumerate(parts) if part.startswith(".")]
            if hidden:
                skipped["hidden"] += hidden[0] == len(parts) - 1
            elif path.is_file() and parts != (ACL_FILE,):
                if path.suffix.lower() in SUFFIXES:
                    found.append(path)
                else:
                    skipped[f"unsupported type {path.suffix.lower() or '(none)'}"] += 1
        return found, [Skipped(source=self.source, reason=r, count=n) for r, n in sorted(skipped.items()) if n]

    def _acl(self) -> AclFile | ConnectorFailure:
        path = self.root / ACL_FILE
        if not path.exists():
            return AclFile()
        try:
            return AclFile.model_validate(tomllib.loads(path.read_text(encoding="utf-8")))
        except (tomllib.TOMLDecodeError, ValidationError, UnicodeDecodeError) as exc:
            detail = str(exc).splitlines()[0] if isinstance(exc, tomllib.TOMLDecodeError) else str(exc)
            return ConnectorFailure(
                source=self.source, fatal=True, message=f"{path}: invalid access rules, nothing indexed: {detail}"
            )

    def _precheck(self) -> AclFile | ConnectorFailure:
        if not self.root.is_dir():
            return ConnectorFailure(source=self.source, fatal=True, message=f"folder not found: {self.root}")
        return self._acl()

    def _read(self, path: Path, acl: AclFile) -> Document | ConnectorFailure:
        relpath = path.relative_to(self.root).as_posix()
        doc_id = self._doc_id(relpath)
        if path.suffix.lower() in EXTRACTED_SUFFIXES:
            return self._read_binary(path, relpath, acl)
        try:
            stat = path.stat()
            if stat.st_size > MAX_BYTES:
                raise ValueError(f"file is larger than {MAX_BYTES // (1024 * 1024)} MiB")
            raw = path.read_bytes().decode("utf-8-sig")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            return ConnectorFailure(source=self.source, document_id=doc_id, message=f"{relpath}: {exc}")
        kind = SUFFIXES[path.suffix.lower()]
        meta: dict[str, str] = {}
        if kind == "markdown":
            meta, body = parse_front_matter(raw)
            title, sections = markdown_sections(body, meta.get("title"))
        elif kind == "html":
            title, sections = html_sections(raw)
        else:
            title, sections = text_sections(raw)
        if not sections:
            # An empty file still needs some text, or it yields no chunk and looks new on every sync.
            sections = [Section(path=[], text=title or path.stem)]
        return Document(
            id=doc_id,
            source=self.source,
            title=title or path.stem,
            url=self._url(path, relpath),
            sections=sections,
            author=meta.get("author") or None,
            created_at=_parse_time(meta.get("created")),
            updated_at=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
            acl=acl.principals_for(relpath),
            metadata={"path": relpath, "format": kind},
        )

    def _read_binary(self, path: Path, relpath: str, acl: AclFile) -> Document | ConnectorFailure:
        """A PDF, Office or CSV file as bytes for the extraction stage; too large: a failure, never read."""
        doc_id = self._doc_id(relpath)
        try:
            stat = path.stat()
            if stat.st_size > self.max_file_mb * 1024 * 1024:
                raise ValueError(too_big(stat.st_size, self.max_file_mb))
            data = path.read_bytes()
        except ValueError as exc:  # the message names no path: the failure's document id says which file
            return ConnectorFailure(source=self.source, document_id=doc_id, message=str(exc))
        except OSError as exc:
            return ConnectorFailure(source=self.source, document_id=doc_id, message=f"unreadable: {exc.strerror}")
        mime = EXTRACTED_SUFFIXES[path.suffix.lower()]
        return Document(
            id=doc_id,
            source=self.source,
            title=path.stem,
            url=self._url(path, relpath),
            sections=[],
            updated_at=datetime.fromtimestamp(stat.st_mtime, tz=UTC),
            acl=acl.principals_for(relpath),
            metadata={"path": relpath, "format": FORMAT_NAMES[mime]},
            blob=Blob.of(path.name, data, mime),
        )

    def _url(self, path: Path, relpath: str) -> str:
        return f"{self.base_url.rstrip('/')}/{relpath}" if self.base_url else path.resolve().as_uri()

    def load_all(self) -> Iterator[Document | ConnectorFailure | Skipped]:
        """Every supported file under the folder, and counts of what was skipped."""
        acl = self._precheck()
        if isinstance(acl, ConnectorFailure):
            yield acl
            return
        files, skipped = self._scan()
        for path in files:
            yield self._read(path, acl)
        yield from skipped

    def list_ids(self) -> Iterator[str | ConnectorFailure]:
        """Ids of every supported file, without reading them."""
        acl = self._precheck()
        if isinstance(acl, ConnectorFailure):
            yield acl
            return
        for path in self._files():
            yield self._doc_id(path.relative_to(self.root).as_posix())

    def poll(
        self, checkpoint: Checkpoint | None
    ) -> Generator[Document | DocumentDeleted | ConnectorFailure | Skipped, None, Checkpoint]:
        """Files added or changed (by mtime and size) since ``checkpoint``, files removed, what was skipped."""
        old = checkpoint or {}
        acl = self._precheck()
        if isinstance(acl, ConnectorFailure):
            yield acl
            return old
        acl_path = self.root / ACL_FILE
        acl_hash = hashlib.sha256(acl_path.read_bytes()).hexdigest() if acl_path.exists() else ""
        rules_changed = acl_hash != old.get("acl")
        seen_before: dict[str, list[int]] = old.get("files", {})
        now: dict[str, list[int]] = {}
        files, skipped = self._scan()
        yield from skipped
        for path in files:
            relpath = path.relative_to(self.root).as_posix()
            stat = path.stat()
            now[relpath] = [stat.st_mtime_ns, stat.st_size]
            if rules_changed or seen_before.get(relpath) != now[relpath]:
                item = self._read(path, acl)
                if isinstance(item, ConnectorFailure):
                    now[relpath] = seen_before.get(relpath, [0, -1])
                yield item
        for relpath in sorted(set(seen_before) - set(now)):
            yield DocumentDeleted(document_id=self._doc_id(relpath))
        return {"files": now, "acl": acl_hash}


def build(config: FilesConfig, settings: Settings) -> FilesConnector:
    """The files connector over ``config.path``."""
    return FilesConnector(config.path, max_file_mb=settings.extract_max_file_mb)

"""Slack export importer: the admin ZIP export (or its unpacked folder) as the same thread documents.

An export holds ``users.json``, ``channels.json`` (public channels, with ``members``), ``groups.json`` (private
channels, when the export includes them) and one folder per channel with one JSON file per day. Threads are
rebuilt from ``thread_ts``; ids, titles, text, permalinks and ACLs match what the live connector produces, so a
team can start from an export and switch to the live connector without re-embedding anything.

Run it with ``python -m askdocs.connectors.slack.export EXPORT.zip --workspace-url https://<team>.slack.com``.
"""

from __future__ import annotations

import json
import zipfile
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from askdocs.connectors.base import ConnectorFailure
from askdocs.connectors.slack.config import SlackExportConfig
from askdocs.connectors.slack.markup import (
    SOURCE,
    Directory,
    Message,
    apply_events,
    channel_acl,
    thread_document,
    ts_key,
)
from askdocs.errors import SourceError
from askdocs.models import PUBLIC, Document
from askdocs.settings import Settings

DMS = ("dms.json", "mpims.json")


class _Archive:
    """Read JSON members of a ZIP file or of an unpacked folder, by relative path."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.zip = zipfile.ZipFile(path) if path.is_file() else None
        names = self.zip.namelist() if self.zip else [p.relative_to(path).as_posix() for p in path.rglob("*.json")]
        prefix = ""
        if not any(n in ("channels.json", "users.json") for n in names):
            tops = {n.split("/", 1)[0] for n in names if "/" in n}
            if len(tops) == 1:  # a ZIP made from a folder: everything under one top folder
                prefix = tops.pop() + "/"
        self.names = sorted(n[len(prefix) :] for n in names if n.startswith(prefix) and n.endswith(".json"))
        self.prefix = prefix

    def load(self, name: str) -> Any:
        full = self.prefix + name
        raw = self.zip.read(full) if self.zip else (self.path / full).read_bytes()
        return json.loads(raw.decode("utf-8-sig"))

    def close(self) -> None:
        if self.zip:
            self.zip.close()


class SlackExportConnector:
    """Loads and lists the threads of a Slack export; source ``slack``, ids ``slack:<channel id>:<thread ts>``."""

    source = SOURCE

    def __init__(
        self,
        path: Path,
        workspace_url: str = "https://slack.com",
        include: list[str] | None = None,
        exclude: list[str] | None = None,
        public_principal: str = PUBLIC,
    ) -> None:
        self.path = Path(path)
        self.workspace_url = workspace_url
        self.include = {n.strip().lstrip("#") for n in include or [] if n.strip()}
        self.exclude = {n.strip().lstrip("#") for n in exclude or [] if n.strip()}
        self.public_principal = public_principal

    def _fatal(self, message: str) -> ConnectorFailure:
        return ConnectorFailure(source=self.source, message=f"{self.path.name}: {message}", fatal=True)

    def _open(self) -> tuple[_Archive, Directory, list[tuple[dict[str, Any], bool]]] | ConnectorFailure:
        try:
            archive = _Archive(self.path)
        except (OSError, zipfile.BadZipFile) as exc:
            return self._fatal(f"cannot open the export: {exc}")
        if "channels.json" not in archive.names:
            archive.close()
            return self._fatal("not a Slack export (no channels.json)")
        directory = Directory()
        try:
            for user in archive.load("users.json") if "users.json" in archive.names else []:
                directory.add_user(user)
            channels = [(c, False) for c in archive.load("channels.json")]
            if "groups.json" in archive.names:
                channels += [(c, True) for c in archive.load("groups.json")]
        except (ValueError, KeyError, TypeError) as exc:
            archive.close()
            return self._fatal(f"unreadable users/channels listing: {exc}")
        for channel, _ in channels:
            directory.channels[str(channel.get("id"))] = str(channel.get("name"))
        chosen = []
        for channel, private in channels:
            keys = {str(channel.get("id")), str(channel.get("name"))}
            if (self.include and not keys & self.include) or keys & self.exclude:
                continue
            chosen.append((channel, private or bool(channel.get("is_private"))))
        return archive, directory, chosen

    def _messages(self, archive: _Archive, name: str) -> tuple[list[Message], list[str]]:
        messages: list[Message] = []
        bad: list[str] = []
        for day in (n for n in archive.names if n.startswith(f"{name}/")):
            try:
                loaded = archive.load(day)
                messages.extend(m for m in loaded if isinstance(m, dict) and m.get("ts"))
            except (ValueError, TypeError, KeyError, OSError):
                bad.append(day)
        return messages, bad

    def load_all(self) -> Iterator[Document | ConnectorFailure]:
        """Every thread of every channel in the export."""
        opened = self._open()
        if isinstance(opened, ConnectorFailure):
            yield opened
            return
        archive, directory, channels = opened
        try:
            for channel, private in channels:
                cid, name = str(channel["id"]), str(channel["name"])
                messages, bad = self._messages(archive, name)
                if bad:  # fatal: a full sync would otherwise delete that day's threads from the index
                    yield self._fatal(f"unreadable file {bad[0]}; nothing pruned, fix or re-export")
                    return
                acl = channel_acl(private, channel.get("members") or [], directory, self.public_principal)
                threads: dict[str, list[Message]] = defaultdict(list)
                for message in apply_events(messages):  # edit and deletion records fold into their messages first
                    threads[str(message.get("thread_ts") or message["ts"])].append(message)
                for thread_ts in sorted(threads, key=ts_key):
                    thread = sorted(threads[thread_ts], key=lambda m: ts_key(m.get("ts")))
                    doc = thread_document(cid, name, thread, directory, acl, self.workspace_url, private)
                    if doc is not None:
                        yield doc
        finally:
            archive.close()

    def list_ids(self) -> Iterator[str | ConnectorFailure]:
        """Ids of every thread in the export."""
        for item in self.load_all():
            yield item if isinstance(item, ConnectorFailure) else item.id


def build(config: SlackExportConfig, settings: Settings) -> SlackExportConnector:
    """The export at ``config.export_path``."""
    if config.export_path is None:
        raise SourceError(
            "a slack-export source needs the export ZIP file or its unpacked folder: "
            "options.export_path or ASKDOCS_SLACK_EXPORT_PATH"
        )
    return SlackExportConnector(
        config.export_path, config.workspace_url, config.channels_include, config.channels_exclude
    )

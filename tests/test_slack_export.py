"""The Slack export importer: an admin export gives the same documents as the live connector."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from slack_server import TOKEN, FakeSlack, FakeWorkspace, seed, slack, slack_server  # noqa: F401

from askdocs.connectors.base import ConnectorFailure
from askdocs.connectors.slack.export import SlackExportConnector
from askdocs.connectors.slack.markup import Directory, readable
from askdocs.connectors.slack.web import SlackConnector, build_client
from askdocs.models import Document


def write_export(ws: FakeWorkspace, folder: Path) -> Path:
    """The workspace as Slack's admin export: users.json, channels.json, groups.json, channel/day.json."""
    folder.mkdir(parents=True)
    (folder / "users.json").write_text(json.dumps(ws.users), encoding="utf-8")
    listing: dict[bool, list[dict[str, Any]]] = {False: [], True: []}
    for c in ws.channels.values():
        listing[c.private].append({"id": c.id, "name": c.name, "created": 1449252889, "creator": "U0ANA",
                                   "is_archived": False, "members": c.members,
                                   "topic": {"value": "", "creator": "", "last_set": 0}})  # fmt: skip
        days: dict[str, list[dict[str, Any]]] = defaultdict(list)
        messages = [m for m in c.roots.values() if m.get("subtype") != "tombstone"]
        messages += [r for replies in c.replies.values() for r in replies]
        for message in sorted(messages, key=lambda m: float(m["ts"])):
            day = datetime.fromtimestamp(float(message["ts"]), UTC).date().isoformat()
            days[day].append(message)
        (folder / c.name).mkdir()
        for day, items in days.items():
            (folder / c.name / f"{day}.json").write_text(json.dumps(items, indent=1), encoding="utf-8")
    (folder / "channels.json").write_text(json.dumps(listing[False]), encoding="utf-8")
    (folder / "groups.json").write_text(json.dumps(listing[True]), encoding="utf-8")
    (folder / "dms.json").write_text("[]", encoding="utf-8")
    return folder


def zip_folder(folder: Path, target: Path) -> Path:
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(folder).as_posix())
    return target


def live_documents(fake: FakeSlack) -> dict[str, Document]:
    client = build_client(TOKEN, fake.url, timeout=2, retries=1, backoff=0.05, jitter=0.0)
    return {d.id: d for d in SlackConnector(client).load_all() if isinstance(d, Document)}


@pytest.mark.parametrize("packed", [True, False])
def test_export_gives_the_same_documents_as_the_live_api(slack: FakeSlack, tmp_path: Path, packed: bool) -> None:  # noqa: F811
    ws = slack.workspace
    ts = seed(ws)
    ws.edit("C0GENERAL", ts["lunch"], "Lunch order closes at noon")
    ws.delete("C0GENERAL", ts["vpn"])  # tombstone in the API, missing root in the export
    folder = write_export(ws, tmp_path / "export")
    path = zip_folder(folder, tmp_path / "export.zip") if packed else folder
    exported = SlackExportConnector(path, ws.url, exclude=["watercooler"])
    docs = list(exported.load_all())
    assert all(isinstance(d, Document) for d in docs)
    live = live_documents(slack)
    assert {d.id: d.model_dump() for d in docs} == {k: d.model_dump() for k, d in live.items()}
    assert sorted(exported.list_ids()) == sorted(live)  # type: ignore[type-var]
    everything = {d.id for d in SlackExportConnector(path, ws.url).load_all() if isinstance(d, Document)}
    assert any(":C0NOBOT:" in i for i in everything), "an admin export has every public channel"
    vpn = next(d for d in docs if d.id.endswith(ts["vpn"]))
    assert vpn.title == "#general thread" and vpn.author is None


def test_a_zip_of_a_folder_and_private_acls(tmp_path: Path) -> None:
    ws = FakeWorkspace()
    ts = seed(ws)
    folder = write_export(ws, tmp_path / "kumo-export")
    target = tmp_path / "nested.zip"
    with zipfile.ZipFile(target, "w") as archive:
        for path in sorted(folder.rglob("*")):
            archive.write(path, path.relative_to(tmp_path).as_posix())
    docs = {d.id: d for d in SlackExportConnector(target, ws.url, include=["finance"]).load_all()}
    budget = docs[f"slack:G0FINANCE:{ts['budget']}"]
    assert isinstance(budget, Document) and "user:slack:U0DAN" in budget.acl and "user:ana@kumo.example" in budget.acl


def test_broken_exports_fail_instead_of_indexing_nothing(tmp_path: Path) -> None:
    (tmp_path / "bad.zip").write_bytes(b"not a zip")
    failures = list(SlackExportConnector(tmp_path / "bad.zip").load_all())
    assert len(failures) == 1 and isinstance(failures[0], ConnectorFailure) and failures[0].fatal
    (tmp_path / "empty").mkdir()
    assert [f.fatal for f in SlackExportConnector(tmp_path / "empty").list_ids()] == [True]  # type: ignore[union-attr]
    ws = FakeWorkspace()
    seed(ws)
    folder = write_export(ws, tmp_path / "export")
    next((folder / "random").iterdir()).write_text("{broken", encoding="utf-8")
    items = list(SlackExportConnector(folder, ws.url).load_all())
    failures = [i for i in items if isinstance(i, ConnectorFailure)]
    assert len(failures) == 1 and failures[0].fatal and "random/" in failures[0].message


def test_cli_imports_into_the_configured_index(tmp_path: Path) -> None:
    ws = FakeWorkspace()
    seed(ws)
    folder = write_export(ws, tmp_path / "export")
    env = {
        **os.environ,
        "ASKDOCS_DATA_DIR": str(tmp_path / "data"),
        "ASKDOCS_SLACK_EXPORT_PATH": str(folder),
        "ASKDOCS_SLACK_WORKSPACE_URL": ws.url,
        "ASKDOCS_SLACK_CHANNELS_INCLUDE": '["finance"]',
    }
    askdocs = Path(sys.executable).with_name("askdocs")
    done = subprocess.run(
        [str(askdocs), "sync", "--type", "slack-export"], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "slack: succeeded; 1 documents seen, 1 added" in done.stdout
    missing = subprocess.run(
        [str(askdocs), "sync", "--type", "slack-export"],
        env={k: v for k, v in env.items() if k != "ASKDOCS_SLACK_EXPORT_PATH"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert missing.returncode == 1 and "fatal: a slack-export source needs the export" in missing.stderr
    assert "options.export_path or ASKDOCS_SLACK_EXPORT_PATH" in missing.stderr


@pytest.mark.parametrize(
    ("markup", "text"),
    [
        ("<@U1> and <@U2|bob>", "@Ann and @bob"),
        ("<#C1|general> <#C9>", "#general #C9"),
        ("<!here> <!channel> <!subteam^S1|@ops> <!date^1392734382^{date}|Feb 18>", "@here @channel @ops Feb 18"),
        (
            "<https://x.example|the docs> <https://y.example> <mailto:a@b.example|a@b.example>",
            "the docs (https://x.example) https://y.example a@b.example",
        ),  # fmt: skip
        ("ok :+1::skin-tone-2: :party_parrot: at 10:30:45", "ok 👍 (party parrot) at 10:30:45"),
        ("a &lt;b&gt; &amp; c", "a <b> & c"),
    ],
)
def test_markup_becomes_readable_text(markup: str, text: str) -> None:
    directory = Directory(names={"U1": "Ann"})
    assert readable(markup, directory) == text


def test_message_changed_and_deleted_records_are_applied(tmp_path: Path) -> None:
    """Exports keep edit and deletion records (the Web API's history answers with the current messages)."""
    ws = FakeWorkspace()
    ts = seed(ws)
    general = ws.channels["C0GENERAL"]
    changed_ts, deleted_ts = ws.next_ts(), ws.next_ts()
    general.roots[changed_ts] = {"type": "message", "subtype": "message_changed", "hidden": True, "ts": changed_ts,
                                 "message": {**general.roots[ts["lunch"]], "text": "Lunch moved to 12:30",
                                             "edited": {"user": "U0CHIE", "ts": changed_ts}}}  # fmt: skip
    general.roots[deleted_ts] = {"type": "message", "subtype": "message_deleted", "hidden": True, "ts": deleted_ts,
                                 "deleted_ts": ts["deploy"]}  # fmt: skip
    path = write_export(ws, tmp_path / "export")
    docs = {d.id: d for d in SlackExportConnector(path, ws.url).load_all() if isinstance(d, Document)}
    assert "Lunch moved to 12:30" in docs[f"slack:C0GENERAL:{ts['lunch']}"].text
    assert f"slack:C0GENERAL:{ts['deploy']}" not in docs
    assert not [d for d in docs if d.endswith((changed_ts, deleted_ts))]

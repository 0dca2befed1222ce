"""A small askdocs workspace for the search page tests: two sources, old and new documents, English and Japanese,
a restricted document, and a document whose title and text carry markup; served in demo mode on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from api_fixtures import WORKSPACE, LiveServer, serve
from browser_fixtures import console_errors, screenshot
from selenium import webdriver

from askdocs.app import Services
from askdocs.connectors.files.connector import FilesConnector
from askdocs.models import Document, Section
from askdocs.settings import AuthSettings, Settings

AXE = Path(__file__).resolve().parent / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
HOSTILE_TITLE = "Zephyr <script>window.pwned=1</script> launch plan"
MARKDOWN_LINK = "[the checklist](javascript:window.pwned=3)"
FILES = {
    "notes/zephyr-launch.md": f"---\ntitle: {HOSTILE_TITLE}\n---\n\n# Launch date\n\n"
    "The Zephyr launch date is 14 March 2027, approved by the board in January.\n\n"
    f"Read {MARKDOWN_LINK} and <img src=x onerror=window.pwned=2> before the launch.\n",
    "notes/zephyr-archive.md": "# Zephyr archive\n\nThe 2024 Zephyr prototype was tested in the Osaka warehouse.\n",
    "tokyo/zephyr-ja.md": "# ゼファー計画\n\nゼファー計画の打ち上げ日は2027年3月14日です。東京オフィスが担当します。\n",
    "finance/zephyr-budget.md": "# Zephyr budget\n\nThe Zephyr programme budget is 4 million yen for 2027.\n",
    **{f"notes/zephyr-note-{n:02d}.md": f"# Zephyr note {n}\n\nZephyr weekly note number {n}.\n" for n in range(12)},
}
OLD = "notes/zephyr-archive.md"  # last changed two years ago


class ChannelConnector:
    """A second source: one chat channel's conversation as a document."""

    source = "slack"

    def load_all(self) -> Iterator[Document]:
        yield Document(
            id="slack:C1",
            source=self.source,
            title="#zephyr-launch",
            url="https://chat.example.invalid/archives/C1",
            sections=[Section(text="The rocket team moved the Zephyr launch rehearsal to Friday.")],
            updated_at=datetime.now(UTC),
            metadata={"channel_id": "C1", "channel": "zephyr-launch"},
        )


@dataclass
class PageServer:
    """The served workspace: base url and the services behind it."""

    url: str
    services: Services


@pytest.fixture(scope="module")
def page_server(live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageServer]:
    """Index the page workspace (reusing the live server's loaded models), serve it with demo sign-in."""
    root = tmp_path_factory.mktemp("page")
    workspace = root / "workspace"
    workspace.mkdir()
    for name in ("_acl.toml", "_people.toml"):
        shutil.copy(WORKSPACE / name, workspace / name)
    for relpath, text in FILES.items():
        (workspace / relpath).parent.mkdir(parents=True, exist_ok=True)
        (workspace / relpath).write_text(text, encoding="utf-8")
    two_years_ago = time.time() - 2 * 365 * 86400
    os.utime(workspace / OLD, (two_years_ago, two_years_ago))
    settings = Settings(data_dir=root / "data", workspace_dir=workspace, auth=AuthSettings(demo=True))
    services = Services.build(settings, embedders=live_server.services.embedders)
    indexer = services.indexer()
    for connector in (FilesConnector(workspace), ChannelConnector()):
        report = indexer.full_sync(connector)
        assert report.status == "succeeded", report.summary()
    with serve(settings, services) as url:
        yield PageServer(url, services)
    services.close()


def axe_violations(driver: webdriver.Chrome) -> list[str]:
    """Serious and critical axe-core violations on the page as it is now."""
    if not AXE.exists():
        pytest.skip("axe-core is not installed: `make a11y` (npm) installs it into tests/a11y")
    driver.execute_script(AXE.read_text(encoding="utf-8"))
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "axe.run(document, {resultTypes: ['violations']}).then((r) => done(r.violations), (e) => done(String(e)));"
    )
    assert isinstance(result, list), result
    return [
        f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']]}"
        for v in result
        if v["impact"] in ("serious", "critical")
    ]


def check_state(driver: webdriver.Chrome, name: str) -> None:
    """Every state of the page: a screenshot, no serious or critical accessibility problem, no console error."""
    screenshot(driver, name)
    violations = axe_violations(driver)
    assert not violations, f"{name}: {violations}"
    assert not console_errors(driver), name

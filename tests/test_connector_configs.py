"""One Config per connector: per-source options reach the connector, variables fill the rest, the README follows."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest
from cli_helpers import askdocs

from askdocs.connectors.docs import documented_types, render
from askdocs.connectors.registry import CONNECTORS, build_connector
from askdocs.connectors.slack.config import SlackConfig
from askdocs.errors import ConfigError, SourceError
from askdocs.ingest.sources import SourceConfig, SourcesConfigError, load_sources
from askdocs.settings import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_the_readme_tables_are_written_from_the_registry() -> None:
    """Every type and every option of its Config is in the README, as `python -m askdocs.connectors.docs` writes."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert documented_types(readme) == list(CONNECTORS)
    assert render(readme) == readme, "run: python -m askdocs.connectors.docs README.md"
    for entry in CONNECTORS.values():
        for option in entry.config.model_fields:
            assert f"| `{option}`" in readme


def test_the_shipped_example_sources_are_valid(tmp_path: Path) -> None:
    """askdocs.yaml's commented examples, uncommented, are read as they stand."""
    text = re.sub(r"(?m)^  # ?", "  ", (ROOT / "askdocs.yaml").read_text(encoding="utf-8"))
    sources = load_sources(_file(tmp_path, text.split("sources:\n", 1)[1]))
    assert [s.type for s in sources.sources] == ["files", "slack", "confluence", "google-docs"]
    assert sources.get("confluence").options["spaces"] == ["ENG", "HR"]


def test_two_sources_of_one_type_each_get_their_own_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAM_A_BOT", "xoxb-team-a-0001")
    monkeypatch.setenv("TEAM_B_BOT", "xoxb-team-b-0002")
    monkeypatch.setenv("ASKDOCS_SLACK_CHANNELS_EXCLUDE", '["random"]')  # the variable fills only what is unset
    sources = load_sources(
        _file(
            tmp_path,
            "  - {name: a, type: slack, credentials: {bot_token: TEAM_A_BOT}, options: {channels_include: [eng]}}\n"
            "  - {name: b, type: slack, credentials: {bot_token: TEAM_B_BOT},"
            " options: {channels_exclude: [hr], rescan_days: 1}}\n"
            "  - {name: w1, type: confluence, options: {base_url: 'http://127.0.0.1:9', spaces: [ENG]}}\n"
            "  - {name: w2, type: confluence, options: {base_url: 'http://127.0.0.1:9', cql: 'type = page'}}\n",
        )
    )
    with pytest.raises(SourceError, match="a confluence source needs credentials.email and credentials.api_token"):
        build_connector("confluence", sources.get("w1").connector_config(), Settings())  # was a bare ValueError
    monkeypatch.setenv("ASKDOCS_CONFLUENCE_BEARER_TOKEN", "bearer-for-both-wikis")
    a, b, w1, w2 = (build_connector(s.type, s.connector_config(), Settings()) for s in sources.sources)
    assert (a.include, a.exclude, a.rescan_days) == ({"eng"}, {"random"}, 7)
    assert (b.include, b.exclude, b.rescan_days) == (set(), {"hr"}, 1)
    assert (a.client.token, b.client.token) == ("xoxb-team-a-0001", "xoxb-team-b-0002")
    assert (w1.space_keys, w1.cql, w2.space_keys, w2.cql) == (["ENG"], None, [], "type = page")
    for connector in (w1, w2):
        connector.close()


def test_legacy_prefixed_names_are_read_with_a_warning_naming_the_new_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    text = (
        "  - {name: chat, type: slack, credentials: {slack_bot_token: BOT},"
        " options: {slack_channels_exclude: [random], slack_rescan_days: 2}}\n"
        "  - {name: wiki, type: confluence, options: {confluence_spaces: [ENG], space_access: {ENG: [group:eng]}}}\n"
    )
    with caplog.at_level(logging.WARNING, logger="askdocs.ingest.sources"):
        sources = load_sources(_file(tmp_path, text))
    chat = sources.get("chat")
    assert chat.options == {"channels_exclude": ["random"], "rescan_days": 2.0}
    assert chat.credentials == {"bot_token": "BOT"}
    assert sources.get("wiki").options == {"spaces": ["ENG"], "space_access": {"ENG": ["group:eng"]}}
    assert (
        "source 'chat': options.slack_channels_exclude is deprecated; call it options.channels_exclude" in caplog.text
    )
    assert "credentials.slack_bot_token is deprecated; call it credentials.bot_token" in caplog.text
    both = "  - {name: chat, type: slack, options: {slack_channels_exclude: [a], channels_exclude: [b]}}\n"
    with pytest.raises(SourcesConfigError, match="options.slack_channels_exclude is not an option of a slack source"):
        load_sources(_file(tmp_path, both))


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{name: c, type: slack, options: {channel_exclude: [x]}}", "options.channel_exclude is not an option of a "
         "slack source (valid: channels_include, channels_exclude, base_url, rescan_days, reply_edit_hours, "
         "run_budget_minutes)"),
        ("{name: c, type: slack, options: {bot_token: xoxb-1234}}", "options.bot_token is a credential: name its "
         "environment variable under credentials"),
        ("{name: c, type: files, path: /tmp, credentials: {path: P}}", "credentials.path is not a credential of a "
         "files source (credentials: none)"),
        ("{name: c, type: slack, options: {rescan_days: -1}}", "options.rescan_days: Input should be greater than "
         "or equal to 0"),
    ],
)  # fmt: skip
def test_bad_options_name_the_key(tmp_path: Path, source: str, message: str) -> None:
    with pytest.raises(SourcesConfigError) as info:
        load_sources(_file(tmp_path, f"  - {source}\n"))
    assert str(info.value) == f"{tmp_path / 'askdocs.yaml'}: sources[0]: {message}"


def test_type_variables_and_env_file_configure_the_default_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ASKDOCS_SLACK_* (environment or .env, whatever else .env holds) still set up an ad-hoc slack source."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "ASKDOCS_DATA_DIR=elsewhere\nASKDOCS_SLACK_BOT_TOKEN=xoxb-from-dotenv-77\nASKDOCS_SLACK_RESCAN_DAYS=3\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("ASKDOCS_SLACK_RUN_BUDGET_MINUTES", "5")
    config = SourceConfig(name="slack", type="slack").connector_config()
    assert isinstance(config, SlackConfig)
    assert (config.rescan_days, config.run_budget_minutes) == (3, 5)
    assert config.bot_token is not None and config.bot_token.get_secret_value() == "xoxb-from-dotenv-77"
    monkeypatch.setenv("ASKDOCS_SLACK_RESCAN_DAYS", "-2")
    with pytest.raises(ConfigError, match="source 'slack': rescan_days: Input should be greater than or equal to 0"):
        SourceConfig(name="slack", type="slack").connector_config()
    monkeypatch.setenv("ASKDOCS_SLACK_RESCAN_DAYS", "1")
    monkeypatch.setenv("ASKDOCS_SLACK_CHANNELS_EXCLUDE", "random")  # a list is due, as JSON
    with pytest.raises(ConfigError, match="source 'slack': error parsing value for field \"channels_exclude\""):
        SourceConfig(name="slack", type="slack").connector_config()
    with pytest.raises(SourceError, match="environment variable NOT_SET_ANYWHERE \\(for bot_token\\) is not set"):
        SourceConfig(name="s", type="slack", credentials={"bot_token": "NOT_SET_ANYWHERE"}).connector_config()


def _file(folder: Path, sources: str) -> Path:
    path = folder / "askdocs.yaml"
    path.write_text("sources:\n" + sources, encoding="utf-8")
    return path


def test_a_bad_space_access_variable_is_one_line(tmp_path: Path) -> None:
    env = {"ASKDOCS_DATA_DIR": str(tmp_path), "ASKDOCS_SPACE_ACCESS": '{"ENG": "group:eng"}'}
    done = askdocs("search", "vpn", env=env | {"ASKDOCS_SOURCES_FILE": str(tmp_path / "none.yaml")})
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-2000:]
    assert done.stderr.strip().splitlines() == [
        "error: confluence variables (ASKDOCS_CONFLUENCE_*, ASKDOCS_SPACE_ACCESS): space_access.ENG: "
        "Input should be a valid list"
    ]

"""Shared setup of the identity tests: a source indexed once, for callers signed in at a trusted proxy, with a spy
on the embedders (a permission refresh must embed nothing)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from embedder_spy import Spy, spy_on

from askdocs.app import Services
from askdocs.database import engine_for
from askdocs.identity import IdentityStore
from askdocs.ingest.runner import run_source
from askdocs.ingest.state import CheckpointStore
from askdocs.ingest.sync import SyncReport
from askdocs.retrieval.embedders import LanguageEmbedders
from askdocs.settings import AuthSettings, Settings

PROXY_AUTH = AuthSettings(proxy_enabled=True, trusted_proxies=["127.0.0.1/32"])  # sign-in by e-mail at a proxy


@dataclass
class Indexed:
    """A source indexed once: the services that serve it, the embedder spy, the run's report, the identity store."""

    services: Services
    spy: Spy
    report: SyncReport
    store: IdentityStore


def proxy_settings(tmp_path: Path) -> Settings:
    """Settings with an index under ``tmp_path`` and callers signed in at a proxy on 127.0.0.1."""
    return Settings(data_dir=tmp_path / "data", auth=PROXY_AUTH)


def index_source(settings: Settings, connector: Any, embedders: LanguageEmbedders, tmp_path: Path) -> Indexed:
    """Run ``connector`` once into a fresh index built from ``settings`` (checkpoints under ``tmp_path``)."""
    spy = spy_on(embedders)
    services = Services.build(settings, embedders=spy.embedders)
    report = run_source(services.indexer(), connector, CheckpointStore(tmp_path / "state"))
    return Indexed(services, spy, report, IdentityStore(engine_for(settings)))

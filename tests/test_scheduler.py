"""SyncScheduler with a controllable clock: schedules, prunes, coalescing, failures, and a real files source."""

from __future__ import annotations

import shutil
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from askdocs.connectors.base import ConnectorFailure
from askdocs.ingest.runner import source_runner
from askdocs.ingest.scheduler import SyncScheduler
from askdocs.ingest.sources import Schedule, SourceConfig, SourcesFile
from askdocs.ingest.state import CheckpointStore
from askdocs.ingest.sync import SyncReport
from askdocs.retrieval.index import Index
from askdocs.retrieval.index.edge import EdgeBackend

T0 = datetime(2026, 1, 1, 0, 0, 10, tzinfo=UTC)
WORKSPACE = Path(__file__).resolve().parent.parent / "examples" / "workspace"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


class Recorder:
    """A run function that records what it was asked to do and reports what it is told to."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.calls: list[tuple[str, bool, datetime]] = []
        self.gate: threading.Event | None = None
        self.report: dict[str, SyncReport] = {}
        self.crash: set[str] = set()

    def __call__(self, source: SourceConfig, full: bool) -> SyncReport:
        self.calls.append((source.name, full, self.clock()))
        if self.gate is not None:
            assert self.gate.wait(10), "test gate never opened"
        if source.name in self.crash:
            raise RuntimeError("connector exploded")
        return self.report.get(source.name, SyncReport(source=source.name, seen=1, added=1))


def sources(*items: SourceConfig) -> SourcesFile:
    return SourcesFile(sources=list(items))


def files_source(name: str, every: str = "30s", prune: str | None = "2m", **extra: object) -> SourceConfig:
    return SourceConfig(
        name=name,
        type="files",
        path=Path("unused"),
        schedule=Schedule(every=every),
        prune=Schedule(every=prune) if prune else None,
        **extra,  # type: ignore[arg-type]
    )


def test_intervals_crons_and_prunes_follow_the_clock() -> None:
    clock = Clock(T0)
    run = Recorder(clock)
    cron = SourceConfig(name="b", type="files", path=Path("x"), schedule=Schedule(cron="*/5 * * * *"), prune=None)
    off = files_source("c", enabled=False)
    scheduler = SyncScheduler(sources(files_source("a"), cron, off), run, clock=clock)
    try:
        assert scheduler.tick() == ["a"], "an interval source syncs at start-up"
        scheduler.wait_idle()
        assert scheduler.tick(clock.advance(seconds=10)) == []
        assert scheduler.tick(clock.advance(seconds=20)) == ["a"]
        scheduler.wait_idle()
        clock.now = T0 + timedelta(minutes=2)
        assert scheduler.tick() == ["a"]
        scheduler.wait_idle()
        clock.now = datetime(2026, 1, 1, 0, 5, tzinfo=UTC)
        assert sorted(scheduler.tick()) == ["a", "b"]
        scheduler.wait_idle()
        assert [(name, full) for name, full, _ in run.calls[:3]] == [("a", False), ("a", False), ("a", True)]
        # the last tick started both sources (in parallel); a's prune, due at 00:04:10, runs at this tick
        assert sorted((name, full) for name, full, _ in run.calls[3:]) == [("a", True), ("b", False)]
        status = {s.name: s for s in scheduler.statuses()}
        assert status["c"].status == "never" and status["c"].next_run is None
        assert status["b"].next_run == datetime(2026, 1, 1, 0, 10, tzinfo=UTC)
        assert status["a"].status == "succeeded" and status["a"].added == 1
    finally:
        scheduler.stop()


def test_missed_fire_times_run_once_not_many_times() -> None:
    clock = Clock(T0)
    run = Recorder(clock)
    scheduler = SyncScheduler(sources(files_source("a")), run, clock=clock)
    try:
        scheduler.tick()
        scheduler.wait_idle()
        clock.advance(hours=1)
        assert scheduler.tick() == ["a"]
        scheduler.wait_idle()
        assert scheduler.tick() == []
        assert run.calls[-1][1] is True, "the overdue prune wins over the incremental run"
        assert scheduler.statuses()[0].next_run > clock.now  # type: ignore[operator]
    finally:
        scheduler.stop()


def test_triggers_while_running_are_coalesced_into_one_more_run() -> None:
    clock = Clock(T0)
    run = Recorder(clock)
    run.gate = threading.Event()
    scheduler = SyncScheduler(sources(files_source("a")), run, clock=clock)
    try:
        assert scheduler.trigger("a") is True
        assert scheduler.trigger("a") is False
        assert scheduler.trigger("a", full=True) is False
        assert scheduler.tick(clock.advance(seconds=30)) == []
        assert scheduler.statuses()[0].running
        run.gate.set()
        scheduler.wait_idle()
        assert [full for _, full, _ in run.calls] == [False, True], "one extra run, full because one trigger was"
        assert not scheduler.statuses()[0].running
        with pytest.raises(KeyError):
            scheduler.trigger("nope")
    finally:
        scheduler.stop()


def test_failures_mark_runs_degraded_or_failed_and_the_scheduler_goes_on() -> None:
    clock = Clock(T0)
    run = Recorder(clock)
    run.crash.add("boom")
    partial = SyncReport(source="part", seen=3)
    partial.failures.append(ConnectorFailure(source="part", message="channel C1 kept failing"))
    fatal = SyncReport(source="auth")
    fatal.failures.append(ConnectorFailure(source="auth", message="invalid_auth", fatal=True))
    empty = SyncReport(source="empty")
    empty.failures.append(ConnectorFailure(source="empty", message="the source listed no documents"))
    run.report = {"part": partial, "auth": fatal, "empty": empty}
    scheduler = SyncScheduler(
        sources(*(files_source(n) for n in ("boom", "part", "auth", "empty", "ok"))), run, clock=clock
    )
    try:
        scheduler.tick()
        scheduler.wait_idle()
        status = {s.name: s for s in scheduler.statuses()}
        assert status["boom"].status == "failed" and "connector exploded" in status["boom"].failures[0]
        assert status["part"].status == "degraded" and status["part"].failures == ["channel C1 kept failing"]
        assert status["auth"].status == "failed"
        assert status["empty"].status == "degraded", "zero documents is never a success"
        assert status["ok"].status == "succeeded"
        assert scheduler.tick(clock.advance(seconds=30)) != [], "a crash does not stop later runs"
        scheduler.wait_idle()
    finally:
        scheduler.stop()


def test_real_files_source_picks_up_an_edit_on_the_next_interval(tmp_path: Path, make_indexer) -> None:  # type: ignore[no-untyped-def]
    from askdocs.settings import Settings

    root = tmp_path / "ws"
    shutil.copytree(WORKSPACE / "it", root / "it")
    index = Index(EdgeBackend(tmp_path / "edge"))
    indexer = make_indexer(index)
    clock = Clock(T0)
    config = SourceConfig(name="ws", type="files", path=root, schedule=Schedule(every="30s"), prune=None)
    run = source_runner(indexer, CheckpointStore(tmp_path / "state"), Settings(data_dir=tmp_path))
    scheduler = SyncScheduler(sources(config), run, clock=clock)
    try:
        scheduler.tick()
        scheduler.wait_idle()
        assert scheduler.statuses()[0].added == len(list((root / "it").iterdir()))
        page = root / "it" / "guest-wifi.txt"
        page.write_text(page.read_text(encoding="utf-8") + "\nThe guest network password rotates every Monday.\n")
        assert scheduler.tick(clock.advance(seconds=10)) == []
        assert scheduler.tick(clock.advance(seconds=20)) == ["ws"]
        scheduler.wait_idle()
        status = scheduler.statuses()[0]
        assert (status.status, status.updated, status.added) == ("succeeded", 1, 0)
        texts = [p.payload["text"] for p in index.chunks(index_filter("files:it/guest-wifi.txt"))]
        assert any("rotates every Monday" in t for t in texts)
    finally:
        scheduler.stop()
        index.close()


def index_filter(doc_id: str):  # type: ignore[no-untyped-def]
    from askdocs.retrieval.index import IndexFilter

    return IndexFilter(doc_ids=(doc_id,))

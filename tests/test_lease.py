"""Scheduler leases in the shared store, on SQLite and on a real PostgreSQL server: atomic acquire, renewal, expiry
of a crashed holder, and two scheduler processes that never sync one source at the same time."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from postgres_fixtures import fresh_postgres_url, postgres_url  # noqa: F401
from pydantic import SecretStr

from askdocs.database import engine_for
from askdocs.ingest.lease import LeaseStore
from askdocs.ingest.scheduler import SyncScheduler
from askdocs.ingest.sources import Schedule, SourceConfig, SourcesFile
from askdocs.ingest.sync import SyncReport
from askdocs.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
WORKER = Path(__file__).resolve().parent / "lease_worker.py"


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty store: a SQLite file, or a database of its own on the PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.sqlite3'}"
    return str(request.getfixturevalue("fresh_postgres_url"))


def _store(url: str, tmp_path: Path, ttl: float = 60.0, holder: str | None = None) -> LeaseStore:
    engine = engine_for(Settings(data_dir=tmp_path, database_url=SecretStr(url)))
    return LeaseStore(engine, holder=holder, ttl=ttl)


def _worker(*args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    command = [sys.executable, str(WORKER), *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def _start_together(processes: list[subprocess.Popen[str]], go: Path) -> None:
    """Wait until every worker is ready, then let them all go at once."""
    for process in processes:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    go.touch()


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)


def test_one_holder_at_a_time_renewal_and_release(database: str, tmp_path: Path) -> None:
    a = _store(database, tmp_path, holder="a")
    b = _store(database, tmp_path, holder="b")
    assert a.acquire("sync:wiki")
    assert a.acquire("sync:wiki"), "the holder may take its own lease again"
    assert not b.acquire("sync:wiki")
    assert b.acquire("sync:slack"), "leases are per name"
    assert a.holder_of("sync:wiki") == "a"
    assert a.renew("sync:wiki") and not b.renew("sync:wiki")
    b.release("sync:wiki")  # not b's: nothing happens
    assert a.holder_of("sync:wiki") == "a"
    a.release("sync:wiki")
    assert a.holder_of("sync:wiki") is None
    assert b.acquire("sync:wiki")


def test_an_expired_lease_is_taken_over_and_its_old_holder_cannot_renew(database: str, tmp_path: Path) -> None:
    a = _store(database, tmp_path, ttl=0.5, holder="a")
    b = _store(database, tmp_path, ttl=0.5, holder="b")
    assert a.acquire("sync:wiki") and not b.acquire("sync:wiki")
    time.sleep(0.8)
    assert a.holder_of("sync:wiki") is None
    assert b.acquire("sync:wiki")
    assert not a.renew("sync:wiki"), "a renewal after a takeover must fail"
    assert b.holder_of("sync:wiki") == "b"


def test_a_held_lease_is_renewed_while_the_block_runs(database: str, tmp_path: Path) -> None:
    a = _store(database, tmp_path, ttl=0.6, holder="a")
    b = _store(database, tmp_path, ttl=0.6, holder="b")
    with a.held("sync:wiki") as lease:
        assert lease is not None
        time.sleep(1.5)  # more than two ttls: only renewals keep it
        assert not b.acquire("sync:wiki")
        assert not lease.lost.is_set()
        with b.held("sync:wiki") as other:
            assert other is None
    assert b.acquire("sync:wiki"), "leaving the block releases the lease"


def test_processes_racing_for_one_lease_yield_one_winner(
    database: str, tmp_path: Path, workers: list[subprocess.Popen[str]]
) -> None:
    _store(database, tmp_path)  # the table exists before the race, as after any scheduler's start
    go = tmp_path / "go"
    workers.extend(_worker("race", database, "sync:wiki", str(go)) for _ in range(4))
    _start_together(workers, go)
    results = [json.loads(p.communicate(timeout=120)[0]) for p in workers]
    assert sum(r["won"] for r in results) == 1, results


def test_a_crashed_holders_lease_expires(database: str, tmp_path: Path, workers: list[subprocess.Popen[str]]) -> None:
    holder = _worker("hold", database, "sync:wiki", "2")
    workers.append(holder)
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    other = _store(database, tmp_path, ttl=2)
    time.sleep(2.5)
    assert not other.acquire("sync:wiki"), "a live holder keeps renewing past its ttl"
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(30)
    deadline = time.monotonic() + 10
    while not other.acquire("sync:wiki"):
        assert time.monotonic() < deadline, "the crashed holder's lease never expired"
        time.sleep(0.2)
    assert other.holder_of("sync:wiki") == other.holder


def test_two_scheduler_processes_never_sync_one_source_at_once(
    database: str, tmp_path: Path, workers: list[subprocess.Popen[str]]
) -> None:
    log = tmp_path / "runs.jsonl"
    _store(database, tmp_path)
    go = tmp_path / "go"
    workers.extend(_worker("schedule", database, str(log), "6", "wiki,slack,drive", str(go)) for _ in range(2))
    _start_together(workers, go)
    for process in workers:
        _, err = process.communicate(timeout=180)
        assert process.returncode == 0, err[-2000:]
    runs = [json.loads(line) for line in log.read_text().splitlines()]
    for source in ("wiki", "slack", "drive"):
        mine = sorted((r for r in runs if r["source"] == source), key=lambda r: r["start"])
        assert len(mine) >= 5, f"{source}: too few runs to mean anything ({len(mine)})"
        for before, after in zip(mine, mine[1:], strict=False):
            assert after["start"] >= before["end"], f"{source}: {before['holder']} and {after['holder']} overlapped"
    assert len({r["holder"] for r in runs}) == 2, "both processes got to sync"


def test_the_scheduler_skips_a_source_another_process_holds(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    other = _store(url, tmp_path, holder="elsewhere")
    assert other.acquire("sync:wiki")
    calls: list[str] = []

    def run(source: SourceConfig, full: bool) -> SyncReport:
        calls.append(source.name)
        return SyncReport(source=source.name)

    names = ("wiki", "slack")
    configs = [SourceConfig(name=n, type="files", path=Path("x"), schedule=Schedule(every="1h")) for n in names]
    scheduler = SyncScheduler(SourcesFile(sources=configs), run, leases=_store(url, tmp_path, holder="here"))
    try:
        assert sorted(scheduler.tick()) == ["slack", "wiki"]
        scheduler.wait_idle()
        assert calls == ["slack"]
        other.release("sync:wiki")
        assert scheduler.trigger("wiki")
        scheduler.wait_idle()
        assert calls == ["slack", "wiki"]
        assert _store(url, tmp_path).holder_of("sync:wiki") is None, "the lease is released after the run"
    finally:
        scheduler.stop()


def test_an_unreachable_lease_store_fails_the_run_closed(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'store.sqlite3'}"
    store = _store(url, tmp_path)
    calls: list[str] = []

    def run(source: SourceConfig, full: bool) -> SyncReport:
        calls.append(source.name)
        return SyncReport(source=source.name)

    config = SourceConfig(name="wiki", type="files", path=Path("x"), schedule=Schedule(every="1h"))
    scheduler = SyncScheduler(SourcesFile(sources=[config]), run, leases=store)
    try:
        (tmp_path / "store.sqlite3").unlink()
        (tmp_path / "store.sqlite3").mkdir()  # the file is gone and cannot be recreated
        scheduler.tick()
        scheduler.wait_idle()
        assert calls == []
        status = scheduler.statuses()[0]
        assert status.status == "failed" and "lease store" in status.failures[0]
    finally:
        scheduler.stop()

"""Keeps every configured source fresh: incremental syncs and full prunes on their schedules.

Scheduling decisions come from APScheduler's triggers (interval and cron); the loop that asks them is
``tick(now)``, so tests drive it with their own clock. One run per source at a time: a trigger that
fires while the source is still running is coalesced into that run; with a ``LeaseStore`` (the shared SQL store) the
same holds across scheduler processes and machines: a run starts only while this process holds the source's lease.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from apscheduler.triggers.base import BaseTrigger
from sqlalchemy.exc import SQLAlchemyError

from askdocs.ingest.lease import LeaseStore
from askdocs.ingest.sources import SourceConfig, SourcesFile
from askdocs.ingest.sync import SyncReport
from askdocs.metrics import SYNC_DOCUMENTS, SYNC_DURATION, SYNC_FAILURES, SYNC_RUNS

log = logging.getLogger(__name__)
RunFn = Callable[[SourceConfig, bool], SyncReport]
Clock = Callable[[], datetime]
RunStatus = Literal["never", "running", "succeeded", "degraded", "failed"]
_OUTCOME: dict[str, RunStatus] = {"succeeded": "succeeded", "partial": "degraded", "failed": "failed"}


def utcnow() -> datetime:
    """The current time, timezone-aware."""
    return datetime.now(UTC)


def ticking_thread(name: str, tick: Callable[[], Any], stop: threading.Event, interval: float) -> threading.Thread:
    """A started daemon thread calling ``tick`` every ``interval`` seconds until ``stop`` is set; a tick that
    raises is logged and the next one runs."""

    def loop() -> None:
        while not stop.wait(interval):
            try:
                tick()
            except Exception:  # keep ticking whatever one tick did
                log.exception("%s tick failed", name)

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    return thread


@dataclass
class SourceStatus:
    """What ``GET /v1/sources`` and ``askdocs sources`` show for one source."""

    name: str
    type: str
    enabled: bool
    status: RunStatus = "never"
    running: bool = False
    last_kind: str | None = None
    last_started: datetime | None = None
    last_finished: datetime | None = None
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    next_run: datetime | None = None
    next_prune: datetime | None = None

    def finish(self, outcome: RunStatus, report: SyncReport, failures: list[str], finished: datetime) -> None:
        """Record a finished run's outcome and counts (at most 20 failure reasons)."""
        self.status, self.last_finished = outcome, finished
        self.added, self.updated, self.unchanged, self.deleted = (
            report.added, report.updated, report.unchanged, report.deleted
        )  # fmt: skip
        self.skipped = dict(report.skipped)
        self.failures = failures[:20]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = asdict(self)
        for key, value in out.items():
            if isinstance(value, datetime):
                out[key] = value.isoformat()
        return out

    def to_dict_raw(self) -> dict[str, Any]:
        """Field values as they are (datetimes kept)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SourceStatus:
        """Inverse of ``to_dict``."""
        values = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        for key in ("last_started", "last_finished", "next_run", "next_prune"):
            if values.get(key):
                values[key] = datetime.fromisoformat(values[key])
        return cls(**values)


def record_run(path: Path, source: SourceConfig, kind: str, report: SyncReport, started: datetime) -> None:
    """Write one run's outcome into the status file (for runs made outside a scheduler: ``askdocs sync``)."""
    statuses = read_statuses(path)
    status = statuses.get(source.name) or SourceStatus(source.name, source.type, source.enabled)
    status.last_kind, status.last_started = kind, started
    status.finish(_OUTCOME[report.status], report, [f.message for f in report.failures], utcnow())
    statuses[source.name] = status
    _write_json(path, [s.to_dict() for s in statuses.values()])


def read_statuses(path: Path) -> dict[str, SourceStatus]:
    """The statuses a scheduler last wrote to ``path`` ({} when none or unreadable)."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        return {row["name"]: SourceStatus.from_dict(row) for row in rows}
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.error("sync status file %s is unreadable (%s); ignored: it is rewritten after the next run", path, exc)
        return {}


def _write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1), encoding="utf-8")
    os.replace(tmp, path)


def _after(trigger: BaseTrigger, now: datetime) -> datetime | None:
    """The trigger's first fire time strictly after ``now`` (missed fire times are skipped, not replayed)."""
    return trigger.get_next_fire_time(None, now + timedelta(microseconds=1))


class SyncScheduler:
    """Runs ``run(source, full)`` for each enabled source when its schedule says so."""

    def __init__(
        self,
        sources: SourcesFile,
        run: RunFn,
        clock: Clock = utcnow,
        max_workers: int = 2,
        status_path: Path | None = None,
        leases: LeaseStore | None = None,
    ) -> None:
        """``leases``: the shared store's leases, so that no other scheduler process syncs a source at once."""
        self.sources = sources
        self._leases = leases
        self._run = run
        self._clock = clock
        self._status_path = status_path
        self._lock = threading.Lock()
        self._status = {s.name: SourceStatus(s.name, s.type, s.enabled) for s in sources.sources}
        for name, saved in read_statuses(status_path).items() if status_path else ():
            if name in self._status:
                restored = SourceStatus(**{**saved.to_dict_raw(), "enabled": self._status[name].enabled})
                if restored.running or restored.status == "running":  # the process died during that run
                    restored.status, restored.failures = "failed", ["interrupted: the process stopped during the run"]
                restored.running = False
                self._status[name] = restored
        self._pending: dict[str, bool] = {}
        self._futures: dict[str, Future[None]] = {}
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="askdocs-sync")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        now = clock()
        self._triggers: dict[str, tuple[BaseTrigger, BaseTrigger | None]] = {}
        for source in sources.sources:
            if source.enabled:
                # The first sync runs at start-up; the first prune one prune interval later.
                sync = source.schedule.trigger(now)
                prune = source.prune.trigger(now) if source.prune is not None else None
                self._triggers[source.name] = (sync, prune)
                status = self._status[source.name]
                status.next_run = sync.get_next_fire_time(None, now)
                status.next_prune = _after(prune, now) if prune is not None else None

    def statuses(self) -> list[SourceStatus]:
        """A snapshot of every source's status."""
        with self._lock:
            return [SourceStatus(**asdict(s)) for s in self._status.values()]

    def tick(self, now: datetime | None = None) -> list[str]:
        """Start the runs that are due at ``now``; returns the names started."""
        now = now or self._clock()
        started = []
        for source in self.sources.sources:
            if not source.enabled:
                continue
            status = self._status[source.name]
            full = status.next_prune is not None and status.next_prune <= now
            due = full or (status.next_run is not None and status.next_run <= now)
            if not due:
                continue
            sync, prune = self._triggers[source.name]
            with self._lock:
                status.next_run = _after(sync, now)
                if full and prune is not None:
                    status.next_prune = _after(prune, now)
            if self._submit(source, full):
                started.append(source.name)
        return started

    def trigger(self, name: str, full: bool = False) -> bool:
        """Run ``name`` now (coalesced with a run in progress); KeyError when there is no such source."""
        source = self.sources.get(name)
        return self._submit(source, full)

    def _submit(self, source: SourceConfig, full: bool) -> bool:
        with self._lock:
            future = self._futures.get(source.name)
            if future is not None and not future.done():
                self._pending[source.name] = self._pending.get(source.name, False) or full
                log.info("source %s is already running; trigger coalesced", source.name)
                return False
            self._status[source.name].running = True
            self._futures[source.name] = self._pool.submit(self._execute, source, full)
            return True

    def _execute(self, source: SourceConfig, full: bool) -> None:
        while True:
            self._run_once(source, full)
            with self._lock:
                if source.name not in self._pending:
                    self._status[source.name].running = False
                    return
                full = self._pending.pop(source.name)

    def _run_once(self, source: SourceConfig, full: bool) -> None:
        if self._leases is None:
            self._run_recorded(source, full)
            return
        try:
            with self._leases.held(f"sync:{source.name}") as lease:
                if lease is None:
                    log.info("source %s is being synced by another scheduler process; this run is skipped", source.name)
                    return
                self._run_recorded(source, full)
        except SQLAlchemyError as exc:  # fail closed: no run without the lease
            log.error(
                "the scheduler lease store is unavailable (%s); sync of %s skipped", type(exc).__name__, source.name
            )
            with self._lock:
                self._status[source.name].status = "failed"
                self._status[source.name].failures = ["the scheduler lease store (ASKDOCS_DATABASE_URL) is unavailable"]

    def _run_recorded(self, source: SourceConfig, full: bool) -> None:
        kind = "full" if full else "incremental"
        status = self._status[source.name]
        started = self._clock()
        with self._lock:
            status.status, status.last_kind, status.last_started = "running", kind, started
        t0 = time.perf_counter()
        try:
            report = self._run(source, full)
            outcome: RunStatus = _OUTCOME[report.status]
            failures = [f.message for f in report.failures]
        except Exception as exc:  # a crashing connector must not stop the scheduler
            log.exception("sync of %s crashed", source.name)
            report, outcome, failures = SyncReport(source=source.name), "failed", [f"{type(exc).__name__}: {exc}"]
        SYNC_DURATION.labels(source.name, kind).observe(time.perf_counter() - t0)
        SYNC_RUNS.labels(source.name, kind, outcome).inc()
        SYNC_FAILURES.labels(source.name).inc(len(failures))
        for action in ("added", "updated", "deleted"):
            SYNC_DOCUMENTS.labels(source.name, action).inc(getattr(report, action))
        log.info(
            "sync finished",
            extra={
                "source": source.name,
                "kind": kind,
                "status": outcome,
                "added": report.added,
                "updated": report.updated,
                "deleted": report.deleted,
                "failures": len(failures),
            },
        )
        with self._lock:
            status.finish(outcome, report, failures, self._clock())
            snapshot = [s.to_dict() for s in self._status.values()]
        if self._status_path is not None:
            _write_json(self._status_path, snapshot)

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Block until no run is in progress (tests and shutdown)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                futures = [f for f in self._futures.values() if not f.done()]
            if not futures:
                return
            futures[0].result(timeout=max(0.0, deadline - time.monotonic()))
        raise TimeoutError("sync runs still in progress")

    def start(self, interval: float = 1.0) -> None:
        """Tick in a background thread every ``interval`` seconds until ``stop``."""
        if self._thread is not None:
            return

        self._thread = ticking_thread("askdocs-scheduler", self.tick, self._stop, interval)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop ticking and wait for runs in progress to finish."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        self._pool.shutdown(wait=True, cancel_futures=True)

"""Runs each source's identity sync (default hourly) and permission refresh (default every 10 minutes).

Beside ``SyncScheduler`` (content), on the same schedule model (``askdocs.yaml``: ``identity`` and ``permissions``,
``null`` to turn one off). Jobs run one at a time in this scheduler's thread, so a refresh never races another; a
source type without the capability is noted once and not asked again. ``tick(now)`` is driven by a clock, as the
content scheduler's is, so tests control time.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from apscheduler.triggers.base import BaseTrigger

from askdocs.ingest.access import AccessKind, AccessReport, AccessRunFn
from askdocs.ingest.scheduler import Clock, ticking_thread, utcnow
from askdocs.ingest.sources import SourcesFile

log = logging.getLogger(__name__)
KINDS: tuple[AccessKind, ...] = ("identity", "permissions")


@dataclass
class AccessJob:
    """One source's job of one kind: its trigger, next run and last outcome (counts only)."""

    source: str
    kind: AccessKind
    trigger: BaseTrigger
    next_run: datetime | None
    status: str = "never"
    last_finished: datetime | None = None
    summary: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "source": self.source,
            "kind": self.kind,
            "status": self.status,
            "next_run": self.next_run.isoformat() if self.next_run else None,
            "last_finished": self.last_finished.isoformat() if self.last_finished else None,
            "summary": self.summary,
        }


class AccessScheduler:
    """Keeps identities and ACLs of every enabled source current."""

    def __init__(self, sources: SourcesFile, run: AccessRunFn, clock: Clock = utcnow) -> None:
        self.sources = sources
        self._run = run
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        now = clock()
        self.jobs: list[AccessJob] = []
        for source in sources.sources:
            schedules = {"identity": source.identity, "permissions": source.permissions}
            for kind in KINDS:
                schedule = schedules[kind]
                if source.enabled and schedule is not None:
                    trigger = schedule.trigger(now)
                    self.jobs.append(AccessJob(source.name, kind, trigger, trigger.get_next_fire_time(None, now)))

    def statuses(self) -> list[dict[str, Any]]:
        """Every job's status."""
        with self._lock:
            return [job.to_dict() for job in self.jobs]

    def tick(self, now: datetime | None = None) -> list[AccessReport]:
        """Run every job due at ``now`` (in this thread); returns their reports."""
        now = now or self._clock()
        reports = []
        for job in list(self.jobs):
            if job.next_run is None or job.next_run > now:
                continue
            with self._lock:
                job.next_run = job.trigger.get_next_fire_time(None, now + timedelta(microseconds=1))
            report = self.run_now(job)
            if report is not None:
                reports.append(report)
        return reports

    def run_now(self, job: AccessJob) -> AccessReport | None:
        """Run ``job`` now; a type without the capability drops the job."""
        source = self.sources.get(job.source)
        try:
            report = self._run(source, job.kind)
        except Exception as exc:  # a crashing connector must not stop the scheduler
            log.exception("%s of %s crashed", job.kind, job.source)
            with self._lock:
                job.status, job.summary, job.last_finished = "failed", type(exc).__name__, self._clock()
            return None
        with self._lock:
            if report is None:
                log.info("source %s (%s) has no %s capability; not scheduled", source.name, source.type, job.kind)
                self.jobs.remove(job)
                return None
            job.status, job.summary, job.last_finished = report.status, report.summary(), self._clock()
        return report

    def start(self, interval: float = 1.0) -> None:
        """Tick in a background thread every ``interval`` seconds until ``stop``."""
        if self._thread is not None:
            return

        self._thread = ticking_thread("askdocs-access", self.tick, self._stop, interval)

    def stop(self, timeout: float = 60.0) -> None:
        """Stop ticking; waits for a job in progress."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

"""A scheduler process for the lease tests, run as ``python tests/lease_worker.py MODE DATABASE_URL ...``.

``schedule LOG SECONDS SOURCES GO``: a ``SyncScheduler`` with leases that, once the file GO exists, triggers every
source all the time for SECONDS; each sync appends {source, holder, start, end} to LOG.
``hold NAME TTL``: take the lease on NAME, print ``held`` and keep renewing it until killed.
``race NAME GO``: print ``ready``, wait until the file GO exists, try to take NAME once, print the result.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from pydantic import SecretStr

from askdocs.database import engine_for
from askdocs.ingest.lease import LeaseStore
from askdocs.settings import Settings


def _store(url: str, ttl: float) -> LeaseStore:
    settings = Settings(data_dir=Path(os.environ.get("TMPDIR", "/tmp")), database_url=SecretStr(url))
    return LeaseStore(engine_for(settings), ttl=ttl)


def _ready(go: str) -> None:
    print("ready", flush=True)
    while not os.path.exists(go):
        time.sleep(0.001)


def schedule(url: str, log_path: str, seconds: float, names: list[str], go: str) -> None:
    from askdocs.ingest.scheduler import SyncScheduler  # imported here: the other modes start faster without it
    from askdocs.ingest.sources import Schedule, SourceConfig, SourcesFile
    from askdocs.ingest.sync import SyncReport

    store = _store(url, ttl=5.0)

    def run(source: SourceConfig, full: bool) -> SyncReport:
        start = time.time()
        time.sleep(0.15)
        line = {"source": source.name, "holder": store.holder, "start": start, "end": time.time()}
        with open(log_path, "a", encoding="utf-8") as log:
            log.write(json.dumps(line) + "\n")
        return SyncReport(source=source.name)

    configs = [SourceConfig(name=n, type="files", path=Path("unused"), schedule=Schedule(every="1h")) for n in names]
    scheduler = SyncScheduler(SourcesFile(sources=configs), run, max_workers=len(names), leases=store)
    _ready(go)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for name in names:
            scheduler.trigger(name)
        time.sleep(0.02)
    scheduler.stop()


def hold(url: str, name: str, ttl: float) -> None:
    with _store(url, ttl).held(name) as lease:
        print("held" if lease else "refused", flush=True)
        time.sleep(3600)


def race(url: str, name: str, go: str) -> None:
    store = _store(url, ttl=60.0)
    _ready(go)
    print(json.dumps({"holder": store.holder, "won": store.acquire(name)}), flush=True)


if __name__ == "__main__":
    mode, url, *rest = sys.argv[1:]
    if mode == "schedule":
        schedule(url, rest[0], float(rest[1]), rest[2].split(","), rest[3])
    elif mode == "hold":
        hold(url, rest[0], float(rest[1]))
    else:
        race(url, rest[0], rest[1])

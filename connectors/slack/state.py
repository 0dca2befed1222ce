"""What a poll remembers of one channel between runs, so the next run reads only what changed or is left to read.

- ``latest``: the newest message or reply seen; an incremental poll lists history from ``latest`` minus the rescan
  window (``oldest``) instead of the whole channel.
- ``threads``: ``ts -> "<root mark>/<thread mark>"``: the root's fingerprint (decides whether to re-read the
  thread) and the whole thread's (decides whether a re-read thread changed, edited replies included).
- ``gaps``: history ranges ``[oldest, latest]`` not listed yet (a first read or a listing that ran out of budget);
  ``pending``: threads to read by ``ts`` whatever the window (deferred, failed, or whose ACL changed).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from askdocs.connectors.slack.markup import Message, fingerprint, ts_key

Range = tuple[str | None, str | None]  # (oldest, latest), exclusive; None: unbounded


@dataclass
class ChannelState:
    """One channel's checkpoint entry, updated in place while the channel is polled."""

    known: bool = False
    name: str = ""
    acl: list[str] = field(default_factory=list)
    latest: str = "0"
    threads: dict[str, str] = field(default_factory=dict)
    gaps: list[Range] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)

    @classmethod
    def load(cls, saved: dict[str, Any] | None) -> ChannelState:
        """The state from a checkpoint entry (None: a channel never read, its whole history is one gap)."""
        if not saved:
            return cls(gaps=[(None, None)])
        gaps = [(lo or None, hi or None) for lo, hi in saved.get("gaps") or []]
        return cls(True, str(saved.get("name") or ""), list(saved.get("acl") or []), str(saved.get("latest") or "0"),
                   dict(saved.get("threads") or {}), gaps, list(saved.get("pending") or []))  # fmt: skip

    def dump(self) -> dict[str, Any]:
        """The checkpoint entry."""
        out: dict[str, Any] = {"name": self.name, "acl": self.acl, "latest": self.latest, "threads": self.threads}
        if self.gaps:
            out["gaps"] = [list(gap) for gap in self.gaps]
        if self.pending:
            out["pending"] = self.pending
        return out

    def marks(self, ts: str) -> tuple[str, str]:
        """``(root mark, thread mark)`` of a known thread (a version-1 entry has no thread mark)."""
        root, _, thread = self.threads.get(ts, "").partition("/")
        return root, thread

    def remember(self, ts: str, root_mark: str, thread_mark: str) -> None:
        """Record a thread as read."""
        self.threads[ts] = f"{root_mark}/{thread_mark}"
        if ts in self.pending:
            self.pending.remove(ts)

    def defer(self, ts_values: list[str]) -> None:
        """Read these threads by ``ts`` on a later run, whatever the window."""
        self.pending += [ts for ts in ts_values if ts not in self.pending]

    def refresh_all(self) -> None:
        """The channel's name or ACL changed: every known thread is re-read and re-emitted."""
        self.threads = {ts: self.marks(ts)[0] + "/" for ts in self.threads}
        self.defer(sorted(self.threads, key=ts_key, reverse=True))

    def ranges(self, rescan_days: float | None) -> list[Range]:
        """History to list this run: the rescan window (everything when None), then the gaps left before."""
        if not self.known or rescan_days is None:
            return [(None, None)]
        oldest = max(ts_key(self.latest) - Decimal(int(rescan_days * 86400)), Decimal(0))
        ranges: list[Range] = [(f"{oldest:.6f}", None)]
        for lo, hi in self.gaps:  # the window lists its part of a gap anyway
            if lo is not None and ts_key(lo) >= oldest:
                continue
            if hi is None or ts_key(hi) > oldest:
                hi = f"{oldest + Decimal('0.000001'):.6f}"
            ranges.append((lo, hi))
        return ranges

    def to_read(self, roots: dict[str, Message], edits_since: float | None) -> list[str]:
        """Listed roots to read: those that changed or have a reply newer than ``edits_since`` (a reply edit
        leaves the root unchanged), newest first; pending threads are read by ``ts`` on their own."""
        work: list[str] = []
        for ts, root in sorted(roots.items(), key=lambda item: ts_key(item[0]), reverse=True):
            recent = edits_since is not None and float(ts_key(root.get("latest_reply"))) >= edits_since
            if ts not in self.pending and (self.marks(ts)[0] != fingerprint(root) or recent):
                work.append(ts)
        return work

    def advance(self, ts: str | None) -> None:
        """Move ``latest`` to ``ts`` when it is newer."""
        if ts_key(ts) > ts_key(self.latest):
            self.latest = str(ts)


def covers(ranges: list[Range], ts: str) -> bool:
    """Whether ``ts`` lies inside one of ``ranges`` (exclusive bounds)."""
    key = ts_key(ts)
    return any((lo is None or key > ts_key(lo)) and (hi is None or key < ts_key(hi)) for lo, hi in ranges)

"""One queue of passages across submissions, cut into requests by up to ``concurrency`` sender threads.

A request may carry the end of one submission's passages and the start of the next one's, so back-to-back
submissions (a sync's look-ahead) send full requests, and a partly filled one leaves only when nothing else waits.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np


@dataclass
class _Submission:
    """The passages of one submission: their rows as requests answer, and the future of all."""

    rows: list[np.ndarray | None]
    done: Future[np.ndarray]
    missing: int  # rows not answered yet
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, position: int, row: np.ndarray) -> None:
        with self.lock:
            if self.done.done():
                return
            self.rows[position] = row
            self.missing -= 1
            if self.missing == 0:
                self.done.set_result(np.vstack(self.rows))  # type: ignore[arg-type]

    def fail(self, exc: BaseException) -> None:
        with self.lock:
            if not self.done.done():
                self.done.set_exception(exc)


_Queued = tuple[_Submission, int, str]  # a passage waiting for a request: its submission, position and text


class RequestQueue:
    """Passages waiting for a request, oldest first; ``send`` embeds one request's passages (one row each).

    A request holds at most ``batch_size`` passages and ``batch_tokens`` tokens (``count_tokens``), one passage at
    least. A failed request fails every submission it carried, and their passages still queued are not sent.
    """

    def __init__(
        self,
        send: Callable[[list[str]], np.ndarray],
        count_tokens: Callable[[str], int],
        batch_size: int,
        batch_tokens: int,
        concurrency: int,
    ) -> None:
        self._send, self._count_tokens = send, count_tokens
        self.batch_size, self.batch_tokens, self.concurrency = batch_size, batch_tokens, concurrency
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="askdocs-embed")
        self._pending: deque[_Queued] = deque()
        self._lock = threading.Lock()
        self._senders = 0
        self._closed = False

    def submit(self, inputs: list[str]) -> Future[np.ndarray] | None:
        """Queue ``inputs`` (not empty) and return at once; the future holds their rows. None once closed."""
        submission = _Submission([None] * len(inputs), Future(), len(inputs))
        with self._lock:
            if self._closed:
                return None
            self._pending.extend((submission, i, text) for i, text in enumerate(inputs))
            wanted = -(-len(self._pending) // self.batch_size)  # requests the queue holds
            start = max(0, min(self.concurrency - self._senders, wanted))
            self._senders += start
        for _ in range(start):
            self._pool.submit(self._send_pending)
        return submission.done

    def _send_pending(self) -> None:
        """One sender: send requests cut from the queue until it is empty."""
        while True:
            with self._lock:
                taken = self._take()
                if not taken:
                    self._senders -= 1
                    return
            try:
                rows = self._send([text for _, _, text in taken])
            except Exception as exc:  # noqa: BLE001 - handed to whoever waits on these passages
                for submission in {id(s): s for s, _, _ in taken}.values():
                    submission.fail(exc)
                continue
            for (submission, position, _), row in zip(taken, rows):
                submission.answer(position, row)

    def _take(self) -> list[_Queued]:
        """The next request from the queue (the lock held); passages of a failed submission are dropped."""
        taken: list[_Queued] = []
        tokens = 0
        while self._pending and len(taken) < self.batch_size:
            submission, _, text = self._pending[0]
            if submission.done.done():
                self._pending.popleft()
                continue
            # A token is at least one UTF-8 byte: the byte count is a bound that spares the tokenizer while the
            # request is far from its token limit; near the limit the exact count decides.
            bound = len(text.encode("utf-8"))
            n = bound if tokens + bound <= self.batch_tokens else self._count_tokens(text)
            if taken and tokens + n > self.batch_tokens:
                break
            taken.append(self._pending.popleft())
            tokens += n
        return taken

    def close(self, error: BaseException) -> None:
        """Stop the sender threads; passages still queued fail with ``error``."""
        with self._lock:
            self._closed = True
            dropped = [submission for submission, _, _ in self._pending]
            self._pending.clear()
        for submission in {id(s): s for s in dropped}.values():
            submission.fail(error)
        self._pool.shutdown(wait=False, cancel_futures=True)

"""``BackgroundWriter``: a bounded queue in front of one consumer thread — the one place where the pipeline's
"hand it to a thread and never wait" pattern lives (the tee's dispatcher, the JSONL/text-log file writer, the
console writer, the dashboard's terminal writer).

The contract, each part tested once in ``tests/test_background_writer.py``:

* **The caller never blocks.** ``put`` appends to a ``collections.deque`` (atomic, no lock) and returns; it never
  waits for the consumer, whatever the consumer is doing (writing to a terminal nobody reads, a hung disk).
* **Bounded, overflow counted.** At most ``max_pending`` items wait (a soft bound: callers racing at the edge on
  several threads may each add one). Beyond it the ``overflow`` policy applies — ``"drop-newest"``: the new item
  is refused (``put`` returns ``False``); ``"drop-oldest"``: the oldest waiting item is removed to make room —
  and every item lost either way is counted in ``dropped``.
* **A stall is reported.** ``stalled_s`` is the time since the consumer last made progress (entered a
  ``consume`` call or took its next item) while a call is in progress, 0.0 when idle. ``check`` — the owner's
  periodic health poll, never the stuck thread itself — calls ``on_stall(True, seconds)`` once when that time
  first exceeds ``stall_s`` and ``on_stall(False, 0.0)`` once the consumer is back.
* **Closing is bounded.** ``close(timeout)`` returns within ``timeout`` seconds even while ``consume`` is stuck:
  the thread (a daemon) is then left to finish on its own.

The consumer is ``consume(items)``, called on the thread (or, for ``flush``/``help_once``, on the calling thread)
with the consume ``lock`` held, in queue order: ``items`` is an iterator that takes each item off the queue as
it is read (at most ``batch`` of them), so an item ``consume`` has not read is still queued — for the next call,
for ``discard``, or for a ``flush`` after the thread died. At each wake the thread calls ``consume`` at least once,
with an empty iterator when nothing is queued (a writer can retry what it holds). ``consume`` should handle its
own errors: an exception ends the thread (recorded in ``died``) or, in ``flush``/``help_once``, reaches the caller.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from typing import Generic, Literal, TypeVar

T = TypeVar("T")
Overflow = Literal["drop-newest", "drop-oldest"]
_ALL = 1 << 62  # "no limit" for the items one ``consume`` call may take


class BackgroundWriter(Generic[T]):
    """Items of type ``T`` queued by any thread, consumed in order by one daemon thread (see the module docstring).

    ``consume``: ``(Iterator[T]) -> None``, the consumer. ``name``: the thread's name. ``max_pending``: the bound
    (items, ≥ 1). ``overflow``: ``"drop-newest"`` or ``"drop-oldest"``. ``batch``: most items per ``consume`` call
    (``None``: all queued). ``interval_s``: seconds the thread sleeps at most between wakes. ``wake_at``: queued
    items that wake the thread at once (1: every ``put``; ``None``: only ``wake``/``interval_s``). ``stall_s``:
    seconds without progress that make a stall. ``on_stall``: ``(stalled: bool, stalled_s: float) -> None``,
    called by ``check``.

    Raises ``ValueError`` for a bound, batch, interval, wake threshold or stall time out of range, or an unknown
    ``overflow``.

    Counters (read from any thread): ``dropped`` (items lost to the bound), ``high_water`` (most items seen
    waiting at once); ``backlog``/``pending``/``stalled_s``/``died`` below.
    """

    def __init__(
        self,
        consume: Callable[[Iterator[T]], None],
        *,
        name: str,
        max_pending: int,
        overflow: Overflow = "drop-newest",
        batch: int | None = None,
        interval_s: float = 0.2,
        wake_at: int | None = 1,
        stall_s: float = 1.0,
        on_stall: Callable[[bool, float], None] | None = None,
    ) -> None:
        if overflow not in ("drop-newest", "drop-oldest"):
            raise ValueError(f"overflow must be 'drop-newest' or 'drop-oldest', not {overflow!r}")
        if max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, not {max_pending}")
        if batch is not None and batch < 1:
            raise ValueError(f"batch must be at least 1 (or None: everything queued), not {batch}")
        if not (0 < interval_s < math.inf):
            raise ValueError(f"interval_s must be a positive number of seconds, not {interval_s}")
        if wake_at is not None and wake_at < 1:
            raise ValueError(f"wake_at must be at least 1 (or None), not {wake_at}")
        if not (0 < stall_s < math.inf):
            raise ValueError(f"stall_s must be a positive number of seconds, not {stall_s}")
        self._consume = consume
        self.name = name
        self.max_pending = max_pending
        self.overflow: Overflow = overflow
        self.batch = batch
        self.interval_s = interval_s
        self._wake_at = _ALL if wake_at is None else wake_at
        self.stall_s = stall_s
        self.on_stall = on_stall
        #: Held while items are consumed — by the thread, ``flush`` or ``help_once`` — so one ``consume`` call
        #: runs at a time and items are consumed in queue order whichever thread consumes.
        self.lock = threading.Lock()
        self.dropped = 0
        self.high_water = 0
        self._drop_newest = overflow == "drop-newest"
        self._q: deque[T] = deque()
        #: ``backlog`` as a plain call (``() -> int``), for a producer's hot path.
        self.size: Callable[[], int] = self._q.__len__
        self._count_lock = threading.Lock()  # ``dropped``: one increment at a time, never held around a call
        self._wake = threading.Event()
        self._idle = threading.Condition(threading.Lock())  # notified after every ``consume`` call
        self._thread: threading.Thread | None = None
        self._closing = False
        self._busy_since: float | None = None  # monotonic time of the consumer's last progress, while busy
        self._in_hand = 0  # items the ``consume`` call in progress has taken
        self._taken = 0  # items ever taken by ``consume`` (changes only with ``lock`` held)
        self._died: str | None = None
        self._stall_reported = False

    # --- any thread ------------------------------------------------------------------------------------------

    def put(self, item: T) -> bool:
        """Queue ``item``; never blocks. ``False`` if it was refused (``"drop-newest"`` and the queue full);
        with ``"drop-oldest"`` it is always queued and the oldest waiting item may be removed instead. Either
        loss is counted in ``dropped``."""
        q = self._q
        n = len(q)
        if n >= self.max_pending:
            if self._drop_newest:
                with self._count_lock:  # callers on several threads: ``+=`` alone would lose counts
                    self.dropped += 1
                return False
            try:
                q.popleft()
            except IndexError:  # the consumer emptied it meanwhile
                pass
            else:
                with self._count_lock:
                    self.dropped += 1
                n -= 1
        q.append(item)
        n += 1
        if n > self.high_water:
            self.high_water = n
        if n >= self._wake_at and not self._wake.is_set():
            self._wake.set()
        return True

    @property
    def wake_at(self) -> int | None:
        """Queued items that wake the thread at once (``None``: only ``wake`` or ``interval_s`` do)."""
        return None if self._wake_at == _ALL else self._wake_at

    @wake_at.setter
    def wake_at(self, value: int | None) -> None:
        if value is not None and value < 1:
            raise ValueError(f"wake_at must be at least 1 (or None), not {value}")
        self._wake_at = _ALL if value is None else value

    @property
    def backlog(self) -> int:
        """Items queued and not yet taken by the consumer."""
        return len(self._q)

    @property
    def pending(self) -> int:
        """Items not yet consumed: ``backlog`` plus those the ``consume`` call in progress has taken."""
        return len(self._q) + self._in_hand

    @property
    def stalled_s(self) -> float:
        """Seconds since the consumer last made progress, while a ``consume`` call is in progress (0.0 when
        idle)."""
        since = self._busy_since
        return 0.0 if since is None else time.monotonic() - since

    @property
    def stalled(self) -> bool:
        """``stalled_s > stall_s``."""
        return self.stalled_s > self.stall_s

    @property
    def died(self) -> str | None:
        """``"ExceptionType: message"`` if ``consume`` raised on the thread and ended it, else ``None``. Items
        still queued then are consumed only by ``flush``/``help_once``."""
        return self._died

    @property
    def closing(self) -> bool:
        """``close`` has been called (the thread's last pass over the queue is under way or done)."""
        return self._closing

    @property
    def running(self) -> bool:
        """The thread is alive (also after ``close`` gave up on it)."""
        thread = self._thread
        return thread is not None and thread.is_alive()

    @property
    def thread(self) -> threading.Thread | None:
        """The consumer thread (``None`` before ``start``)."""
        return self._thread

    def check(self) -> bool:
        """Whether the consumer is stalled now (``stalled``). Calls ``on_stall(True, stalled_s)`` when a stall is
        first seen and ``on_stall(False, 0.0)`` when it is over; call it periodically from the owner's health
        check (the stuck thread cannot report itself). Exceptions of ``on_stall`` reach the caller."""
        seconds = self.stalled_s
        stalled = seconds > self.stall_s
        if stalled != self._stall_reported:
            self._stall_reported = stalled
            if self.on_stall is not None:
                self.on_stall(stalled, seconds if stalled else 0.0)
        return stalled

    def wake(self) -> None:
        """Ask the thread to consume what is queued now (does not wait)."""
        self._wake.set()

    def discard(self, keep: Callable[[T], bool] | None = None) -> int:
        """Remove the queued items (those for which ``keep(item)`` is false, when given; the others keep their
        order) and return how many were removed. Not counted in ``dropped``: the owner says what they were.
        Items the consumer has already taken are not affected. Exact while no other thread ``put``s
        meanwhile."""
        q = self._q
        taken = []
        for _ in range(len(q)):
            try:
                taken.append(q.popleft())
            except IndexError:  # the consumer took the rest
                break
        if keep is None:
            return len(taken)
        kept = [item for item in taken if keep(item)]
        if kept:
            q.extendleft(reversed(kept))  # back in front of anything queued meanwhile, in their order
            self._wake.set()  # the thread may have found the queue empty meanwhile
        return len(taken) - len(kept)

    # --- the thread ------------------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the consumer thread (idempotent). Raises ``RuntimeError`` after ``close``."""
        if self._closing:
            raise RuntimeError(f"{self.name}: start after close")
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
            self._thread.start()

    def close(self, timeout: float) -> bool:
        """Ask the thread to consume everything queued and end, and wait for it at most ``timeout`` seconds
        (finite, ≥ 0; 0: do not wait). Idempotent. ``True`` when no thread is running any more (it ended, died
        or never started — items may then still be queued: ``backlog``); ``False`` when it is still running
        (stuck in ``consume``): it is left, a daemon, to consume what is still queued and end.

        Raises ``ValueError`` for a negative or infinite ``timeout``."""
        if not (0 <= timeout < math.inf):
            raise ValueError(f"close timeout must be a finite number of seconds ≥ 0, not {timeout}")
        self._closing = True
        self._wake.set()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def wait_idle(self, timeout: float) -> bool:
        """Wake the thread and wait at most ``timeout`` seconds until nothing is pending (``pending == 0``).
        ``True`` if so; ``False`` on timeout, and at once while something is pending and the thread is not
        running (never started, ended, died). Consumes nothing on the calling thread."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        with self._idle:
            while self._q or self._in_hand:
                left = deadline - time.monotonic()
                if left <= 0 or not self.running:
                    return False
                self._idle.wait(min(left, self.interval_s))
            return True

    def _run(self) -> None:
        wake = self._wake
        try:
            while not self._closing:
                wake.wait(self.interval_s)
                wake.clear()
                self._drain(-1, tick=True, yield_between=True)
            self._drain(-1, tick=True, yield_between=True)
        except BaseException as exc:  # noqa: BLE001 - recorded for the owner (``died``), never re-raised
            self._died = f"{type(exc).__name__}: {exc}"
        finally:
            with self._idle:
                self._idle.notify_all()

    # --- consuming on the calling thread (only for a ``consume`` that never blocks) -----------------------

    def flush(self, timeout: float | None = 5.0) -> bool:
        """Consume, **on this thread**, every item queued before the call (the thread's batch in progress
        included: this waits for it to end). Items queued after the call are left to the thread, so a producer
        that keeps putting cannot keep this call going. ``True`` when done; ``False`` if the lock was not free
        within ``timeout`` seconds (``None``: no limit) or, at once, while the consumer is ``stalled``.

        Only for a ``consume`` that never blocks (it runs on the caller's thread). Exceptions of ``consume``
        reach the caller."""
        if self.stalled:
            return False
        # The queue's end now, as a count of items ever taken: ``len`` is read before ``_taken``, so items taken
        # meanwhile by the thread only move the mark later, never before an item queued before this call.
        queued = len(self._q)
        until = self._taken + queued
        if not self._drain(-1 if timeout is None else timeout, until=until):
            return False
        # The thread may still be consuming the last items it took: wait for its call to end.
        deadline = None if timeout is None else time.monotonic() + timeout
        while not self.lock.acquire(timeout=0.01):
            if self.stalled or (deadline is not None and time.monotonic() > deadline):
                return False
        self.lock.release()
        return True

    def help_once(self) -> bool:
        """Consume one batch on this thread if the lock is free right now (it is only tried, never waited for)
        and the consumer is not ``stalled``. ``False`` if it was not (someone else is consuming, or the consumer
        is stuck). For a producer that outruns a CPU-starved (or dead) thread and keeps the queue short itself;
        only for a ``consume`` that never blocks. Exceptions of ``consume`` reach the caller."""
        return not self.stalled and self._drain(0, chunks=1)

    def _drain(
        self,
        lock_timeout: float,
        *,
        chunks: int = -1,
        until: int | None = None,
        tick: bool = False,
        yield_between: bool = False,
    ) -> bool:
        """Consume queued items, one ``consume`` call (≤ ``batch`` items) per hold of the lock, at most
        ``chunks`` calls (-1: until the queue is empty) and only while fewer than ``until`` items have ever been
        taken (``None``: no such bound). ``tick``: call ``consume`` once even with nothing queued.
        ``lock_timeout``: seconds to wait for the lock (-1: no limit; 0: only try). ``False`` if the lock was not
        had."""
        q, lock = self._q, self.lock
        limit = self.batch or _ALL
        while (q or tick) and chunks != 0 and (until is None or self._taken < until):
            tick = False
            chunks -= 1
            acquired = (
                lock.acquire(blocking=False) if lock_timeout == 0 else lock.acquire(timeout=lock_timeout)
            )
            if not acquired:
                return False
            try:
                n = limit if until is None else min(limit, until - self._taken)
                if n > 0:
                    self._busy_since = time.monotonic()
                    self._consume(self._take(n))
            finally:
                self._busy_since = None
                self._in_hand = 0
                lock.release()
                with self._idle:
                    self._idle.notify_all()
            if yield_between and q:
                time.sleep(0)  # let the producers' threads have the GIL between batches
        return True

    def _take(self, n: int) -> Iterator[T]:
        """Up to ``n`` items off the queue, each taken only when read (lock held by the caller)."""
        q = self._q
        monotonic = time.monotonic
        for _ in range(n):
            self._in_hand += 1  # before the pop: ``pending`` may count an item twice for a moment, never zero
            try:
                item = q.popleft()
            except IndexError:
                self._in_hand -= 1
                return
            self._taken += 1
            self._busy_since = monotonic()
            yield item

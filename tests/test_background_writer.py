"""The contract of ``logging_pipeline.background.BackgroundWriter``, the one queue-plus-thread behind the tee's
dispatcher, the file writer, the console writer and the terminal writer — tested here once:

* the caller never blocks (whatever the consumer does);
* the queue is bounded, with an explicit overflow policy (drop-newest or drop-oldest), every loss counted;
* a consumer that makes no progress for ``stall_s`` seconds is reported through ``on_stall`` (and its recovery);
* ``close(timeout)`` returns within its bound even while the consumer is stuck;
* order, the items ``consume`` does not read, ``flush``/``help_once`` on the calling thread, ``discard``.

A stuck consumer is a ``consume`` that waits on an event the test releases; no assertion depends on how fast
this machine is (a bounded ``close`` is shown by returning while the consumer is still held).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from arbdash.logging_pipeline.background import BackgroundWriter

WAIT_S = 30.0  # upper bound of any wait for the other thread (a failing test, not a slow one, reaches it)


class Consumer:
    """Records what it consumes; ``block_on`` items make it wait (in the consumer thread) until ``release``."""

    def __init__(self, block_on: tuple[Any, ...] = (), per_call: int | None = None) -> None:
        self.items: list[Any] = []
        self.calls = 0
        self.empty_calls = 0
        self.block_on = set(block_on)
        self.per_call = per_call  # read at most this many items per call (None: all it is given)
        self.release = threading.Event()
        self.hold_s = WAIT_S  # how long a blocking item waits for ``release`` at most
        self.entered = threading.Event()  # a blocking item was taken
        self.threads: set[int] = set()

    def __call__(self, items: Iterator[Any]) -> None:
        self.calls += 1
        self.threads.add(threading.get_ident())
        read = 0
        for item in items:
            self.items.append(item)
            read += 1
            if item in self.block_on:
                self.entered.set()
                assert self.release.wait(self.hold_s)
            if self.per_call is not None and read >= self.per_call:
                break
        if read == 0:
            self.empty_calls += 1


def _until(predicate: Any, what: str) -> None:
    deadline = time.monotonic() + WAIT_S
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.002)


def _writer(consumer: Consumer, **kw: Any) -> BackgroundWriter[Any]:
    options: dict[str, Any] = {"name": "test-writer", "max_pending": 1000, "interval_s": 0.05, **kw}
    return BackgroundWriter(consumer, **options)


def _stuck(consumer: Consumer, **kw: Any) -> BackgroundWriter[Any]:
    """A started writer whose consumer is stuck on item ``"stuck"`` (taken off the queue, not finished)."""
    consumer.block_on.add("stuck")
    writer = _writer(consumer, **kw)
    writer.start()
    writer.put("stuck")
    assert consumer.entered.wait(WAIT_S)
    return writer


# --- never blocks the caller --------------------------------------------------------------------------------


def test_put_never_waits_for_a_stuck_consumer() -> None:
    consumer = Consumer()
    writer = _stuck(consumer, max_pending=100)
    results: list[bool] = []
    producer = threading.Thread(target=lambda: results.extend(writer.put(i) for i in range(10_000)))
    try:
        producer.start()
        producer.join(WAIT_S)
        # the producer finished all its puts while the consumer is still stuck: none of them waited for it
        assert not producer.is_alive()
        assert not consumer.release.is_set() and writer.stalled_s > 0
        assert len(results) == 10_000
    finally:
        consumer.release.set()
        writer.close(5)


# --- bounded, overflow explicit and counted --------------------------------------------------------------------


@pytest.mark.parametrize("overflow", ["drop-newest", "drop-oldest"])
def test_the_queue_is_bounded_and_its_overflow_policy_is_the_one_asked_for(overflow: str) -> None:
    consumer = Consumer()
    writer = _stuck(consumer, max_pending=10, overflow=overflow)
    try:
        accepted = [writer.put(i) for i in range(25)]
        assert writer.backlog == 10 and writer.pending == 11  # + the item the stuck consumer holds
        assert writer.dropped == 15
        assert writer.high_water == 10
        if overflow == "drop-newest":
            assert accepted == [True] * 10 + [False] * 15
        else:
            assert accepted == [True] * 25
        consumer.release.set()
        assert writer.close(WAIT_S)
    finally:
        consumer.release.set()
    kept = list(range(10)) if overflow == "drop-newest" else list(range(15, 25))
    assert consumer.items == ["stuck", *kept]  # the survivors, in order


@pytest.mark.parametrize("overflow", ["drop-newest", "drop-oldest"])
def test_losses_counted_from_many_threads_add_up(overflow: str) -> None:
    import sys

    consumer = Consumer()
    writer = _stuck(consumer, max_pending=10, overflow=overflow)
    threads, per_thread = 8, 5_000
    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: a lost ``+=`` would show
    try:
        workers = [
            threading.Thread(target=lambda: [writer.put(i) for i in range(per_thread)])
            for _ in range(threads)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join(WAIT_S)
    finally:
        sys.setswitchinterval(switch)
        consumer.release.set()
    try:
        queued = writer.backlog
        assert writer.dropped + queued == threads * per_thread  # every put either waits or is counted
        assert 10 <= queued < 10 + threads  # soft bound: callers racing at the edge may each add one
    finally:
        writer.close(5)


# --- a stall is reported ----------------------------------------------------------------------------------------


def test_a_stall_is_reported_once_through_the_callback_and_so_is_the_recovery() -> None:
    reports: list[tuple[bool, float]] = []
    consumer = Consumer()
    writer = _writer(consumer, stall_s=0.05, on_stall=lambda stalled, s: reports.append((stalled, s)))
    writer.start()
    try:
        assert writer.check() is False and writer.stalled_s == 0.0  # idle: no stall
        consumer.block_on.add("stuck")
        writer.put("stuck")
        assert consumer.entered.wait(WAIT_S)
        _until(lambda: writer.check(), "the stall to be seen")
        for _ in range(5):
            assert writer.check() is True  # still stalled: not reported again
        assert len(reports) == 1 and reports[0][0] is True and reports[0][1] > 0.05
        consumer.release.set()
        _until(lambda: not writer.check(), "the consumer to finish")
        assert reports[1:] == [(False, 0.0)]
        assert writer.stalled_s == 0.0
    finally:
        consumer.release.set()
        writer.close(5)


def test_the_stall_is_counted_from_the_last_item_taken_not_from_the_start_of_the_call() -> None:
    gates = {"a": threading.Event(), "b": threading.Event()}
    taken: list[str] = []

    def consume(items: Iterator[str]) -> None:
        for item in items:
            taken.append(item)
            assert gates[item].wait(WAIT_S)

    writer: BackgroundWriter[str] = BackgroundWriter(
        consume, name="test-writer", max_pending=10, batch=None, wake_at=None, interval_s=0.05
    )
    writer.put("a")
    writer.put("b")
    writer.start()
    try:
        _until(lambda: taken == ["a"] and writer.stalled_s > 0.5, "a long stall on the first item")
        before = writer.stalled_s
        gates["a"].set()  # "a" done; "b" is taken in the same call, which then waits on it
        _until(lambda: taken == ["a", "b"], "the second item")
        after = writer.stalled_s
        assert 0.0 < after < before  # still in the call, but taking "b" was progress: the clock restarted
    finally:
        for gate in gates.values():
            gate.set()
        writer.close(5)


# --- closes within its bound --------------------------------------------------------------------------------


def test_close_returns_within_its_bound_while_the_consumer_is_stuck_and_the_thread_finishes_later() -> None:
    consumer = Consumer()
    consumer.hold_s = 20 * WAIT_S  # held longer than the join below: a close that waits for it stays alive
    writer = _stuck(consumer)
    writer.put("after")
    try:
        closed: list[bool] = []
        closer = threading.Thread(target=lambda: closed.append(writer.close(0.2)), daemon=True)
        closer.start()
        closer.join(2 * WAIT_S)  # a hang guard, not a speed claim
        assert not closer.is_alive() and closed == [False]  # returned while the consumer is still held
        assert writer.running  # left to itself, a daemon
        assert writer.close(0) is False  # idempotent, and 0 does not wait
    finally:
        consumer.release.set()
    _until(lambda: not writer.running, "the thread to end once the consumer returned")
    assert consumer.items == ["stuck", "after"]  # it still consumed what was queued before ending
    assert writer.close(0) is True


def test_close_consumes_everything_queued_then_ends_the_thread() -> None:
    consumer = Consumer()
    writer = _writer(consumer, wake_at=None, interval_s=10.0)  # nothing would wake it before the close
    writer.start()
    for i in range(1000):
        writer.put(i)
    assert writer.close(WAIT_S) is True
    assert consumer.items == list(range(1000)) and not writer.running and writer.backlog == 0
    with pytest.raises(RuntimeError):
        writer.start()


@pytest.mark.parametrize("timeout", [-1.0, math.inf, math.nan])
def test_close_refuses_an_unbounded_or_negative_timeout(timeout: float) -> None:
    writer = _writer(Consumer())
    with pytest.raises(ValueError):
        writer.close(timeout)


@pytest.mark.parametrize(
    "kw",
    [
        {"max_pending": 0},
        {"overflow": "drop-random"},
        {"batch": 0},
        {"interval_s": 0},
        {"interval_s": math.inf},
        {"wake_at": 0},
        {"stall_s": 0},
    ],
)
def test_out_of_range_settings_are_refused(kw: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        _writer(Consumer(), **kw)


# --- order, batches, what consume does not read -------------------------------------------------------------


def test_items_are_consumed_in_order_in_batches_on_the_thread_and_it_ticks_when_idle() -> None:
    consumer = Consumer()
    writer = _writer(consumer, batch=7, wake_at=1)
    writer.start()
    try:
        for i in range(100):
            writer.put(i)
        _until(lambda: len(consumer.items) == 100, "every item")
        assert consumer.items == list(range(100))
        assert consumer.calls - consumer.empty_calls >= 100 // 7  # never more than ``batch`` per call
        assert threading.get_ident() not in consumer.threads
        _until(lambda: consumer.empty_calls >= 2, "calls with nothing queued (a writer's retry tick)")
    finally:
        writer.close(5)


def test_items_consume_does_not_read_stay_queued_and_a_dead_thread_leaves_them_to_flush() -> None:
    consumer = Consumer(per_call=1)  # reads one item per call, however many it is offered
    writer = _writer(consumer, batch=None)
    writer.start()
    for i in range(5):
        writer.put(i)
    _until(lambda: len(consumer.items) == 5, "every item, one per call")
    assert consumer.items == list(range(5))

    class Fatal(BaseException):
        pass

    def dies(items: Iterator[Any]) -> None:
        for item in items:
            if item == "kill":
                raise Fatal("consumer bug")
            consumer.items.append(item)

    use = [dies]
    writer2: BackgroundWriter[Any] = BackgroundWriter(
        lambda items: use[0](items), name="dies", max_pending=10, wake_at=None, interval_s=10.0
    )
    for x in ("kill", "x", "y"):
        writer2.put(x)
    writer2.start()
    writer2.wake()
    _until(lambda: writer2.died is not None, "the thread to die")
    assert "Fatal: consumer bug" in (writer2.died or "")
    assert not writer2.running and writer2.backlog == 2  # "x" and "y" were not read: still queued
    use[0] = consumer
    assert writer2.flush(5.0) is True  # the owner can still have them consumed
    assert consumer.items[-2:] == ["x", "y"]
    assert writer2.close(0) is True
    writer.close(5)


# --- consuming on the calling thread ------------------------------------------------------------------------


def test_flush_consumes_on_the_calling_thread_and_gives_up_at_once_on_a_stall() -> None:
    consumer = Consumer()
    writer = _writer(consumer, wake_at=None)  # never started: only ``flush`` consumes
    for i in range(10):
        writer.put(i)
    assert writer.flush(5.0) is True
    assert consumer.items == list(range(10)) and consumer.threads == {threading.get_ident()}

    stuck = Consumer()
    writer2 = _stuck(stuck, stall_s=0.05)
    writer2.put("queued")
    try:
        _until(lambda: writer2.stalled, "the stall")
        result: list[bool] = []
        caller = threading.Thread(target=lambda: result.append(writer2.flush(timeout=None)))
        caller.start()
        caller.join(WAIT_S)
        assert not caller.is_alive() and result == [False]  # no wait on a known stall, even without a limit
    finally:
        stuck.release.set()
        writer2.close(5)


def test_help_once_only_tries_the_lock() -> None:
    consumer = Consumer()
    writer = _writer(consumer, batch=3, wake_at=None)
    for i in range(10):
        writer.put(i)
    held, done = threading.Event(), threading.Event()

    def holder() -> None:
        with writer.lock:
            held.set()
            done.wait(WAIT_S)

    other = threading.Thread(target=holder)
    other.start()
    try:
        assert held.wait(WAIT_S)
        result: list[bool] = []
        caller = threading.Thread(target=lambda: result.append(writer.help_once()))
        caller.start()
        caller.join(WAIT_S)
        assert not caller.is_alive() and result == [False] and consumer.items == []  # tried, did not wait
    finally:
        done.set()
        other.join(WAIT_S)
    assert writer.help_once() is True
    assert consumer.items == [0, 1, 2]  # one batch
    assert writer.backlog == 7


def test_discard_removes_queued_items_keeps_the_order_of_the_rest_and_does_not_count_them_as_dropped() -> (
    None
):
    consumer = Consumer()
    writer = _stuck(consumer)
    try:
        for x in ("c1", "F1", "c2", "F2", "c3"):
            writer.put(x)

        def keep(x: str) -> bool:
            if x == "F1":  # another put while the discard is under way: it must land after the kept items
                writer.put("late")
            return x.startswith("c")

        assert writer.discard(keep=keep) == 2
        writer.put("F3")
        assert writer.dropped == 0 and writer.backlog == 5
        consumer.release.set()
        assert writer.wait_idle(WAIT_S)
        assert consumer.items == ["stuck", "c1", "c2", "c3", "late", "F3"]
        writer.put("gone")
        assert writer.discard() in (0, 1)  # all of it (unless the thread took it first)
    finally:
        consumer.release.set()
        writer.close(5)


def test_wait_idle_waits_for_the_item_in_hand_and_gives_up_after_its_timeout() -> None:
    consumer = Consumer()
    writer = _stuck(consumer)
    try:
        assert writer.backlog == 0 and writer.pending == 1
        assert writer.wait_idle(0.1) is False  # the item in hand is not consumed yet
        consumer.release.set()
        assert writer.wait_idle(WAIT_S) is True and writer.pending == 0
    finally:
        consumer.release.set()
        writer.close(5)

"""``Notifier``: delivers alert messages through apprise from a worker thread, never from the event loop.

``send(title, body, severity)`` only puts the message on a bounded queue (``queue_size``) and returns at once; a
full queue drops the message and counts it (``dropped``). The worker thread takes one message at a time and calls
``apprise.Apprise.notify`` for every URL; a delivery that fails (apprise answers ``False``: an HTTP error status, a
refused or timed-out connection) is retried ``retries`` times after 1, 2, 4 … s (``backoff_s``), then counted
(``failed``) and reported through ``on_failure(reason)`` — runbot turns that into a ``session.health`` event for the
``alerts`` component, so the dashboard's health shows it. A receiver that never answers costs the worker its
timeout, never the bot: nothing on the loop waits for it, and ``close`` gives up after ``close_timeout_s``.

apprise: https://github.com/caronc/apprise (URLs: ``json://host:port/path`` posts a JSON body; ``tgram://``,
``slack://``, ``discord://``, ``mailto://`` …).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

_STOP = object()


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    severity: str


class Notifier:
    """A worker thread delivering to ``urls`` (apprise URLs, secrets). See the module docstring."""

    def __init__(
        self,
        urls: list[str],
        *,
        queue_size: int = 256,
        retries: int = 3,
        backoff_s: float = 1.0,
        timeout_s: float = 5.0,
        on_failure: Callable[[str], None] | None = None,
        on_recovery: Callable[[], None] | None = None,
    ) -> None:
        import apprise

        self._apprise = apprise.Apprise()
        for url in urls:
            plugin = apprise.Apprise.instantiate(url)
            if plugin is None:
                raise ValueError("apprise cannot use a notification URL")
            with_timeout = getattr(plugin, "socket_read_timeout", None)
            if with_timeout is not None:
                plugin.socket_read_timeout = timeout_s
                plugin.socket_connect_timeout = timeout_s
            self._apprise.add(plugin)
        self.retries = retries
        self.backoff_s = backoff_s
        self.on_failure = on_failure
        self.on_recovery = on_recovery
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._stopping = threading.Event()
        self.sent = self.failed = self.dropped = self.attempts = 0
        self._failing = False
        self._thread = threading.Thread(target=self._run, name="alerts-notifier", daemon=True)
        self._thread.start()

    def send(self, title: str, body: str, severity: str) -> bool:
        """Queue a message (never blocks); ``False`` when the queue is full (counted in ``dropped``)."""
        try:
            self._queue.put_nowait(Message(title, body, severity))
        except queue.Full:
            self.dropped += 1
            return False
        return True

    @property
    def pending(self) -> int:
        return self._queue.qsize()

    def close(self, timeout_s: float = 2.0) -> None:
        """Deliver what is queued within ``timeout_s`` seconds, then stop (undelivered messages are counted as
        dropped)."""
        try:
            self._queue.put(_STOP, timeout=max(0.01, timeout_s))
        except queue.Full:
            pass
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            self._stopping.set()  # a retry wait ends at once; a request in flight ends with its timeout
            self.dropped += self._queue.qsize()

    # --- the worker --------------------------------------------------------------------------------------

    def _run(self) -> None:
        import apprise

        types = {"info": apprise.NotifyType.INFO, "warning": apprise.NotifyType.WARNING}
        while True:
            item = self._queue.get()
            if item is _STOP or self._stopping.is_set():
                return
            kind = types.get(item.severity, apprise.NotifyType.FAILURE)
            delivered = False
            for attempt in range(self.retries + 1):
                self.attempts += 1
                try:
                    delivered = bool(self._apprise.notify(title=item.title, body=item.body, notify_type=kind))
                except Exception:  # noqa: BLE001 - a plugin's bug is a failed delivery, not the worker's end
                    delivered = False
                if delivered or self._stopping.wait(
                    self.backoff_s * 2**attempt if attempt < self.retries else 0
                ):
                    break
            if delivered:
                self.sent += 1
                if self._failing and self.on_recovery is not None:
                    self._failing = False
                    self.on_recovery()
            else:
                self.failed += 1
                if self.on_failure is not None:
                    self._failing = True
                    self.on_failure(
                        f"{self.failed} alert notification(s) not delivered after {self.retries} retries"
                    )


__all__ = ["Message", "Notifier"]

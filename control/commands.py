"""Operator commands: their typed bodies, and the desk that queues them for the strategy and keeps the audit trail.

A command is a JSON object with an ``id`` (the client's idempotency key: 1–64 of ``A-Z a-z 0-9 . _ : -``) and a
``command`` naming one of ``logging_pipeline.events.COMMANDS``::

    {"id": "web-5f1c…", "command": "close_position", "position_id": "P0003-ETH"}
    {"id": "ops-17", "command": "pause_entries"}            # also resume_entries, flatten_all
    {"id": "ops-18", "command": "set_limit", "limit": "max_positions", "value": "2"}
    {"id": "ops-19", "command": "set_limit", "limit": "max_total_exposure_usd", "value": "2500"}

``parse_command`` turns a request body into one of the ``Command`` structs or raises ``CommandError`` (a body
that is not JSON, an unknown command, a missing or ill-typed field: nothing was understood, so nothing is
logged). ``CommandDesk`` takes commands from every source on the event loop (``POST /api/commands``, the live
view's keys, ``runbot command`` through the server):

1. ``submit`` checks the id: a repeated id with the same body is answered with the first outcome (or waits for
   it) and changes nothing — *applied once*; the same id with another body is refused (``ID_REUSED``). A new
   command is logged as ``command.received`` and queued; while the bot is stopping it is refused (``STOPPING``);
2. the strategy runner calls ``run_pending`` at its safe points (before each cycle, and whenever a command
   arrives while it waits for the market clock — never inside a two-leg execution); each command runs on the
   ``CommandTarget`` (the strategy) and its ``Outcome`` is logged as ``command.executed`` or
   ``command.rejected`` with a reason code (``COMMAND_REJECTIONS``);
3. ``close`` (the run is over) refuses what is still queued and everything after (``STOPPING``).

The JSONL and PostgreSQL therefore hold the audit trail (who asked what, when, and what came of it), and every
replay shows it in the timeline. The desk keeps the outcomes of the last ``MAX_REMEMBERED`` ids (older ids are
forgotten oldest first; a command still queued is never forgotten) and at most ``MAX_QUEUED`` queued commands.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal, Protocol

import msgspec

from arbdash.logging_pipeline.events import CommandExecuted, CommandReceived, CommandRejected, Event

#: A command id: what the client uses to make a retry safe.
CommandId = Annotated[str, msgspec.Meta(pattern=r"^[A-Za-z0-9._:-]{1,64}$")]
PositionId = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
LimitName = Literal["max_positions", "max_total_exposure_usd"]
MAX_REMEMBERED = 1024
MAX_QUEUED = 64
MAX_BODY_BYTES = 4096


class _Command(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True, tag_field="command"):
    id: CommandId


class ClosePosition(_Command, frozen=True, kw_only=True, tag="close_position"):
    """Close one position now (both legs, reduce-only); exit code ``OPERATOR_CLOSE``."""

    position_id: PositionId


class PauseEntries(_Command, frozen=True, kw_only=True, tag="pause_entries"):
    """Open no new position until ``resume_entries``; open positions keep being monitored and exited."""


class ResumeEntries(_Command, frozen=True, kw_only=True, tag="resume_entries"):
    """Allow new entries again."""


class FlattenAll(_Command, frozen=True, kw_only=True, tag="flatten_all"):
    """Close every open position (``OPERATOR_CLOSE``) and pause entries, so the book stays flat."""


class SetLimit(_Command, frozen=True, kw_only=True, tag="set_limit"):
    """Change a risk limit for the rest of the session: ``max_positions`` (a whole number ≥ 0) or
    ``max_total_exposure_usd`` (USD, > 0). Open positions are not touched; the limit gates new entries."""

    limit: LimitName
    value: Decimal


Command = ClosePosition | PauseEntries | ResumeEntries | FlattenAll | SetLimit
_decoder = msgspec.json.Decoder(Command)
_TAGS = {"close_position", "pause_entries", "resume_entries", "flatten_all", "set_limit"}


class CommandError(ValueError):
    """A body that is not a command: ``code`` (``bad_json``, ``unknown_command``, ``bad_command``) and a message."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def parse_command(body: bytes) -> Command:
    """The command in a request ``body`` (JSON, at most ``MAX_BODY_BYTES``). Raises ``CommandError``."""
    if len(body) > MAX_BODY_BYTES:
        raise CommandError("bad_command", f"a command is at most {MAX_BODY_BYTES} bytes")
    try:
        return _decoder.decode(body)
    except msgspec.ValidationError as exc:
        try:
            raw = msgspec.json.decode(body)
        except msgspec.DecodeError:
            raw = None
        name = raw.get("command") if isinstance(raw, dict) else None
        if isinstance(name, str) and name not in _TAGS:
            known = ", ".join(sorted(_TAGS))
            raise CommandError("unknown_command", f"unknown command {name[:40]!r} (known: {known})") from None
        raise CommandError("bad_command", str(exc)) from None
    except msgspec.DecodeError as exc:
        raise CommandError("bad_json", f"the body is not JSON: {exc}") from None


def command_name(command: Command) -> str:
    """The ``command`` tag of ``command`` (``"close_position"`` …)."""
    return type(command).__struct_config__.tag  # type: ignore[return-value]


Status = Literal["executed", "rejected", "pending"]


@dataclass(frozen=True)
class Outcome:
    """What became of a command. ``status``: executed / rejected / pending (still queued); ``reason``: a
    ``COMMAND_REJECTIONS`` code when rejected; ``message``: one line for a person; ``position_ids``: positions it
    closed; ``entries_paused`` / ``limit`` / ``value`` / ``previous_value``: the state it left."""

    status: Status
    message: str
    reason: str | None = None
    position_ids: tuple[str, ...] = ()
    entries_paused: bool | None = None
    limit: str | None = None
    value: Decimal | None = None
    previous_value: Decimal | None = None

    @classmethod
    def rejected(cls, reason: str, message: str) -> Outcome:
        return cls("rejected", message, reason=reason)


class CommandTarget(Protocol):
    """What carries commands out: the strategy. ``execute`` runs at a safe point at market time ``now`` and
    returns the outcome (it must not raise for a command it refuses: that is ``Outcome.rejected``)."""

    async def execute(self, command: Command, now: datetime) -> Outcome: ...


@dataclass
class _Entry:
    command: Command
    source: str
    future: asyncio.Future[Outcome]
    duplicates: int = 0


@dataclass
class Answer:
    """``submit``'s answer: the ``Outcome`` and whether the id had been seen (``duplicate``: nothing ran again)."""

    command_id: str
    command: str
    outcome: Outcome
    duplicate: bool = False

    def to_json(self) -> dict[str, object]:
        o = self.outcome
        body: dict[str, object] = {
            "id": self.command_id,
            "command": self.command,
            "status": o.status,
            "reason": o.reason,
            "message": o.message,
            "duplicate": self.duplicate,
            "position_ids": list(o.position_ids),
        }
        if o.entries_paused is not None:
            body["entries_paused"] = o.entries_paused
        if o.limit is not None:
            body.update(limit=o.limit, value=str(o.value), previous_value=str(o.previous_value))
        return body


@dataclass
class Ticket:
    """A submitted command: ``wait`` for its ``Answer`` (``duplicate``: the id had been seen, nothing ran again)."""

    command_id: str
    command: str
    future: asyncio.Future[Outcome]
    duplicate: bool = False

    def answer(self) -> Answer:
        """The answer now: the outcome if known, else ``pending``."""
        f = self.future
        outcome = f.result() if f.done() else Outcome("pending", "queued for the strategy's next safe point")
        return Answer(self.command_id, self.command, outcome, duplicate=self.duplicate)

    async def wait(self, timeout_s: float) -> Answer:
        """The answer once the command has run, or ``pending`` after ``timeout_s`` seconds (the command stays
        queued; a cancelled waiter does not cancel it)."""
        if not self.future.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self.future), timeout_s)
        return self.answer()


@dataclass
class CommandDesk:
    """Queue, idempotency and audit trail of operator commands (see the module docstring). Lives on the bot's
    event loop; ``emit(event, message, level)`` logs through the pipeline (the composer passes the unified
    logger's ``emit``)."""

    emit: Callable[[Event, str, str], None]
    max_remembered: int = MAX_REMEMBERED
    max_queued: int = MAX_QUEUED
    _seen: OrderedDict[str, _Entry] = field(default_factory=OrderedDict)
    _queue: deque[str] = field(default_factory=deque)
    _closed: bool = False
    _wakeup: asyncio.Event | None = None

    @property
    def wakeup(self) -> asyncio.Event:
        """Set while commands wait; the runner waits on it beside the market clock (``bot.clock``)."""
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
        return self._wakeup

    @property
    def pending(self) -> int:
        return len(self._queue)

    @property
    def closed(self) -> bool:
        return self._closed

    def submit(self, command: Command, *, source: str) -> Ticket:
        """Take ``command`` from ``source`` (``http`` / ``terminal``; on the event loop). Returns a ``Ticket``
        whose ``wait`` gives the outcome: at once for a repeated id whose command has run, ``ID_REUSED``,
        ``STOPPING`` or ``BUSY``; otherwise after the strategy's next safe point (a client that stops waiting
        leaves the command queued)."""
        name = command_name(command)
        loop = asyncio.get_running_loop()
        seen = self._seen.get(command.id)
        if seen is not None:
            if seen.command == command:
                seen.duplicates += 1
                return Ticket(command.id, name, seen.future, duplicate=True)
            outcome = Outcome.rejected(
                "ID_REUSED",
                f"command id {command.id!r} was used for another command ({command_name(seen.command)})",
            )
            self._log_received(command, source)
            self._log_outcome(command, outcome)
            done: asyncio.Future[Outcome] = loop.create_future()
            done.set_result(outcome)
            return Ticket(command.id, name, done)
        entry = _Entry(command, source, loop.create_future())
        self._remember(command.id, entry)
        self._log_received(command, source)
        if self._closed or len(self._queue) >= self.max_queued:
            why = "the bot is stopping" if self._closed else f"{self.max_queued} commands are already queued"
            self._finish(entry, Outcome.rejected("STOPPING" if self._closed else "BUSY", why))
        else:
            self._queue.append(command.id)
            self.wakeup.set()
        return Ticket(command.id, name, entry.future)

    def status(self, command_id: str) -> Answer | None:
        """The state of a command by id (``pending`` while queued); ``None`` for an id not remembered."""
        entry = self._seen.get(command_id)
        if entry is None:
            return None
        return Ticket(command_id, command_name(entry.command), entry.future).answer()

    async def run_pending(self, target: CommandTarget, now: datetime) -> int:
        """Carry out the queued commands in arrival order on ``target`` at market time ``now`` (a safe point).
        Returns how many ran. A command whose ``execute`` raises is rejected with the error's text (the bot goes
        on); a cancellation propagates and leaves the rest queued."""
        ran = 0
        while self._queue:
            entry = self._seen[self._queue[0]]
            try:
                outcome = await target.execute(entry.command, now)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - a failed command is an outcome, never the bot's end
                outcome = Outcome.rejected("FAILED", f"{type(exc).__name__}: {exc}")
            self._queue.popleft()
            self._finish(entry, outcome)
            ran += 1
        if self._wakeup is not None:
            self._wakeup.clear()
        return ran

    def close(self) -> None:
        """The bot is stopping: refuse what is queued and everything submitted from now on (``STOPPING``)."""
        self._closed = True
        while self._queue:
            entry = self._seen[self._queue.popleft()]
            self._finish(entry, Outcome.rejected("STOPPING", "the bot stopped before the command could run"))

    # --- internals ------------------------------------------------------------------------------------------

    def _remember(self, command_id: str, entry: _Entry) -> None:
        self._seen[command_id] = entry
        while len(self._seen) > self.max_remembered:
            oldest = next(iter(self._seen))
            if not self._seen[oldest].future.done():
                break  # queued commands are never forgotten (the queue is bounded)
            del self._seen[oldest]

    def _finish(self, entry: _Entry, outcome: Outcome) -> None:
        self._log_outcome(entry.command, outcome)
        if not entry.future.done():
            entry.future.set_result(outcome)

    def _log_received(self, command: Command, source: str) -> None:
        name = command_name(command)
        args = ""
        position_id = limit = None
        value = None
        if isinstance(command, ClosePosition):
            position_id = command.position_id
            args = f" {position_id}"
        elif isinstance(command, SetLimit):
            limit, value = command.limit, command.value
            args = f" {limit}={value}"
        self.emit(
            CommandReceived(
                command_id=command.id,
                command=name,
                source=source,
                position_id=position_id,
                limit=limit,
                value=value,
            ),
            f"Command {name}{args} received ({source}, id {command.id})",
            "info",
        )

    def _log_outcome(self, command: Command, outcome: Outcome) -> None:
        name = command_name(command)
        if outcome.status == "executed":
            self.emit(
                CommandExecuted(
                    command_id=command.id,
                    command=name,
                    position_ids=list(outcome.position_ids),
                    entries_paused=outcome.entries_paused,
                    limit=outcome.limit,
                    value=outcome.value,
                    previous_value=outcome.previous_value,
                ),
                f"Command {name} executed: {outcome.message} (id {command.id})",
                "info",
            )
        else:
            self.emit(
                CommandRejected(
                    command_id=command.id,
                    command=name,
                    reason=outcome.reason or "FAILED",
                    detail=outcome.message,
                ),
                f"Command {name} rejected ({outcome.reason}): {outcome.message} (id {command.id})",
                "warning",
            )


#: HTTP status of each outcome (``POST /api/commands``).
HTTP_STATUS = {
    "executed": 200,
    "pending": 202,
    "UNKNOWN_POSITION": 404,
    "ALREADY_CLOSING": 409,
    "ALREADY_CLOSED": 409,
    "ID_REUSED": 409,
    "BAD_VALUE": 422,
    "STOPPING": 503,
    "BUSY": 503,
    "FAILED": 500,
}


def http_status(answer: Answer) -> int:
    """The HTTP status ``POST /api/commands`` answers ``answer`` with."""
    o = answer.outcome
    if o.status != "rejected":
        return HTTP_STATUS[o.status]
    return HTTP_STATUS.get(o.reason or "FAILED", 409)


__all__ = [
    "Answer",
    "Ticket",
    "ClosePosition",
    "Command",
    "CommandDesk",
    "CommandError",
    "CommandTarget",
    "FlattenAll",
    "Outcome",
    "PauseEntries",
    "ResumeEntries",
    "SetLimit",
    "command_name",
    "http_status",
    "parse_command",
]

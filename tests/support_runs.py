"""In-process bot runs: ``run_bot_in_process`` on the shipped config and the trading record of a run."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import orjson
import pytest

import arbdash.tools.runbot_cli as runbot_cli
import arbdash.tools.runbot_run as runbot_run
from arbdash.bot.config import BotConfig, load_config
from arbdash.dashboard.reducer import Reducer
from arbdash.logging_pipeline import Sink
from arbdash.logging_pipeline.sinks.jsonl import JsonlSink

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "configs" / "funding_arb_paper.yml"
_REAL_SINKS = runbot_run._sinks
_VARYING = ("ts", "seq", "session_id")  # differ between two runs of the same config; everything else may not


class RecordingSink(Sink):
    """Keeps every serialised line (the test's own copy of the event stream)."""

    name = "recorder"

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[bytes] = []

    def write(self, line: bytes, record: dict[str, Any]) -> None:
        self.lines.append(line)


@dataclass
class Run:
    code: int
    events: list[dict[str, Any]]
    lines: list[bytes]
    jsonl: Path
    reducer: Reducer
    sinks: list[Sink]

    def of(self, name: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == name]

    @property
    def bot_wall_s(self) -> float:
        """Wall seconds from ``session.started`` to the last position closing (the bot's own work)."""
        start = datetime.fromisoformat(self.of("session.started")[0]["ts"])
        end = datetime.fromisoformat(self.of("position.closed")[-1]["ts"])
        return (end - start).total_seconds()


#: The window of the in-process runs: the first six weeks of the shipped data (the stress of late January and
#: a dozen positions), a third of the full run's time — these tests are about the pipeline, not the months.
RUN_DAYS = 42


def shipped_config(days: int | None = RUN_DAYS) -> BotConfig:
    """The shipped config, its market window cut to the first ``days`` days of the data (``None``: all of it)."""
    from datetime import timedelta

    from arbdash.bot.runner import market_window

    cfg = load_config(SHIPPED)
    if days is None:
        return cfg
    start, _ = market_window(cfg)
    market = cfg.market.model_copy(update={"start": start, "end": start + timedelta(days=days)})
    return cfg.model_copy(update={"market": market})


def short_config_file(directory: Path, days: int = RUN_DAYS) -> Path:
    """The shipped config file with its market window cut like ``shipped_config(days)``, written in
    ``directory`` (for tests that run ``runbot`` as a command)."""
    cfg = shipped_config(days)
    text = SHIPPED.read_text(encoding="utf-8")
    start, end = cfg.market.start, cfg.market.end
    assert start is not None and end is not None
    for key, value in (("start", start), ("end", end)):
        old = f"  {key}: null"
        assert old in text, f"the shipped config has no {old!r} line"
        text = text.replace(old, f"  {key}: {value.isoformat()}", 1)
    path = directory / f"paper-{days}d.yml"
    path.write_text(text, encoding="utf-8")
    return path


def run_bot_in_process(
    tmp_path: Path,
    *,
    mode: str = "silent",
    config: BotConfig | None = None,
    adjust_sinks: Callable[[list[Sink]], list[Sink]] | None = None,
) -> Run:
    """One ``runbot --speed 0 --dashboard-mode=<mode>`` run of the shipped config (``shipped_config()``: its
    first ``RUN_DAYS`` days), in this process.

    ``adjust_sinks`` may wrap, replace or add sinks (the recording sink is added after it). Returns the events
    as every sink saw them, the JSONL path, the live reducer and the sinks."""
    recorder = RecordingSink()
    seen: dict[str, Any] = {}

    def sinks(opts: runbot_run.RunOptions, session_id: str, tee: Any) -> tuple[list[Sink], JsonlSink]:
        built, jsonl = _REAL_SINKS(opts, session_id, tee)
        if adjust_sinks is not None:
            built = adjust_sinks(built)
        built = [*built, recorder]
        seen["sinks"] = built
        return built, jsonl

    class KeptReducer(Reducer):
        def __init__(self, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            seen["reducer"] = self

    log_dir = tmp_path / f"logs-{len(list(tmp_path.glob('logs-*')))}"
    opts = runbot_run.RunOptions(
        config=config or shipped_config(),
        config_path=SHIPPED,
        mode=runbot_cli.DashboardMode(mode),
        speed=Decimal(0),
        log_dir=log_dir,
        level="INFO",
        width=120,
        final_frame=None,
    )
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(runbot_run, "_sinks", sinks)
        mp.setattr(runbot_run, "Reducer", KeptReducer)
        code = asyncio.run(runbot_run.run_session(opts))
    (jsonl,) = log_dir.glob("*.jsonl")
    events = [orjson.loads(line) for line in recorder.lines]
    return Run(code, events, recorder.lines, jsonl, seen["reducer"], seen["sinks"])


def trades(run: Run) -> list[dict[str, Any]]:
    """The trading record: every position.opened/closed event without the fields that vary between runs."""
    return [
        {k: v for k, v in e.items() if k not in _VARYING}
        for e in run.events
        if e["event"] in ("position.opened", "position.closed")
    ]

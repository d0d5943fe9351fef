"""The thresholds reach the screen (issue 9 item 4): the dashboard colours profit erosion and price divergence
against the exit / entry thresholds of the config the bot actually runs with, carried in ``session.started``.

Two real ``runbot --speed 0 --dashboard-mode=silent`` runs (a few market days each) of the shipped config with
different ``profit_erosion_threshold`` and ``max_entry_price_divergence_pct``; each JSONL is replayed through
``Reducer`` + ``read_file``. The snapshot must carry the configured thresholds (erosion ·100, as %), and the
same erosion / divergence value — half-way between the two configured thresholds — must be coloured differently
in the two sessions' positions panes: red above the session's threshold, not red at or below it.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import msgspec
import pytest
import yaml
from rich.console import Console
from rich.style import Style

from arbdash.bot.config import StrategyConfig, load_config
from arbdash.dashboard.models import DashboardSnapshot, PositionSnapshot
from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.render_rich import _div_style, _erosion_style, positions_pane
from arbdash.dashboard.sources.jsonl import read_file
from arbdash.dashboard.text import fmt_pct

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = ROOT / "configs" / "funding_arb_paper.yml"
WINDOW = ("2026-03-01T00:00:00+00:00", "2026-03-06T00:00:00+00:00")  # a few market days keep the runs short
# (profit_erosion_threshold fraction, max_entry_price_divergence_pct %) of the two runs: both differ from each
# other and from the renderer's fallbacks (100 %, 0.5 %), so only thresholds carried in the events can pass
THRESHOLDS = {"low_erosion": ("0.6", "0.2"), "high_erosion": ("0.85", "0.04")}
_HUNDRED = Decimal(100)


@dataclass
class Session:
    strategy: StrategyConfig  # the strategy config the bot ran with, as loaded from the file it was given
    snap: DashboardSnapshot  # the JSONL replayed to its end


def _write_config(path: Path, erosion: str, divergence: str) -> None:
    data = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    data["strategy"]["profit_erosion_threshold"] = erosion
    data["strategy"]["max_entry_price_divergence_pct"] = divergence
    data["market"]["start"], data["market"]["end"] = WINDOW
    path.write_text(yaml.safe_dump(data), encoding="utf-8")


@pytest.fixture(scope="module")
def sessions(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Session]:
    """Both runs, started together (independent processes, own log dirs), each replayed from its JSONL."""
    base = tmp_path_factory.mktemp("thresholds")
    procs = {}
    for name, (erosion, divergence) in THRESHOLDS.items():
        config = base / f"{name}.yml"
        _write_config(config, erosion, divergence)
        procs[name] = (
            config,
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "arbdash.tools.runbot_cli",
                    "--config",
                    str(config),
                    "--speed",
                    "0",
                    "--dashboard-mode=silent",
                    "--log-dir",
                    str(base / f"logs-{name}"),
                ],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
    out = {}
    for name, (config, proc) in procs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        (jsonl,) = (base / f"logs-{name}").glob("*.jsonl")
        reducer = Reducer()
        read_file(jsonl, reducer)
        out[name] = Session(load_config(config).strategy, reducer.snapshot())
    return out


def _between(a: Decimal, b: Decimal) -> Decimal:
    return (a + b) / 2


def _cell_style(
    snap: DashboardSnapshot, *, erosion_pct: Decimal | None = None, divergence_pct: Decimal | None = None
) -> Style:
    """Render the session's positions pane with one open position showing ``erosion_pct`` or ``divergence_pct``
    (the other left unknown); return the style of that cell, found by the renderer's own formatting of it."""
    probe = PositionSnapshot(
        position_id="probe",
        symbol="BTC",
        lifecycle="open",
        profit_erosion_pct=erosion_pct,
        divergence_pct=divergence_pct,
    )
    console = Console(width=220, color_system="truecolor", force_terminal=True)
    segments = list(console.render(positions_pane(msgspec.structs.replace(snap, positions=[probe]))))
    text = fmt_pct(erosion_pct, 1) if erosion_pct is not None else fmt_pct(divergence_pct, 3, signed=True)
    (style,) = {
        s.style for s in segments if text in s.text.split()
    }  # an unstyled cell merges with its neighbours
    return style or Style.null()


def _red(style: Style) -> bool:
    return style.color is not None and style.color.name == "red"


def test_the_configs_differ_as_intended(sessions: dict[str, Session]) -> None:
    low, high = sessions["low_erosion"].strategy, sessions["high_erosion"].strategy
    assert (low.profit_erosion_threshold, low.max_entry_price_divergence_pct) == tuple(
        map(Decimal, THRESHOLDS["low_erosion"])
    )
    assert (high.profit_erosion_threshold, high.max_entry_price_divergence_pct) == tuple(
        map(Decimal, THRESHOLDS["high_erosion"])
    )


def test_snapshot_carries_the_thresholds_the_bot_ran_with(sessions: dict[str, Session]) -> None:
    for name, s in sessions.items():
        assert s.snap.session.erosion_threshold_pct == s.strategy.profit_erosion_threshold * _HUNDRED, name
        assert s.snap.session.divergence_limit_pct == s.strategy.max_entry_price_divergence_pct, name


def test_erosion_colour_boundary_moves_with_the_configured_threshold(sessions: dict[str, Session]) -> None:
    a, b = sessions["low_erosion"], sessions["high_erosion"]
    value = _between(a.strategy.profit_erosion_threshold, b.strategy.profit_erosion_threshold) * _HUNDRED
    styles = {}
    for name, s in sessions.items():
        picked = _erosion_style(value, s.snap.session.erosion_threshold_pct)
        rendered = _cell_style(s.snap, erosion_pct=value)
        assert rendered == (Style.parse(picked) if picked else Style.null()), name  # the pane uses that pick
        # red exactly when the value is beyond this session's configured exit threshold
        assert _red(rendered) == (value > s.strategy.profit_erosion_threshold * _HUNDRED), (name, rendered)
        styles[name] = rendered
    assert styles["low_erosion"] != styles["high_erosion"]


def test_divergence_colour_boundary_moves_with_the_configured_limit(sessions: dict[str, Session]) -> None:
    a, b = sessions["low_erosion"], sessions["high_erosion"]
    value = _between(a.strategy.max_entry_price_divergence_pct, b.strategy.max_entry_price_divergence_pct)
    styles = {}
    for name, s in sessions.items():
        picked = _div_style(value, s.snap.session.divergence_limit_pct)
        rendered = _cell_style(s.snap, divergence_pct=value)
        assert rendered == (Style.parse(picked) if picked else Style.null()), name  # the pane uses that pick
        # red exactly when the value is beyond this session's configured entry limit (either sign)
        assert _red(rendered) == (value > s.strategy.max_entry_price_divergence_pct), (name, rendered)
        negative = _cell_style(s.snap, divergence_pct=-value)
        assert negative == rendered, name
        styles[name] = rendered
    assert styles["low_erosion"] != styles["high_erosion"]

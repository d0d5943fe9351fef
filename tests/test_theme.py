"""Themes and the seed's dashboard names (issue 15 item 3): ``theme: dark | light | none``, ``--theme`` and
``NO_COLOR``; ``enabled`` and ``renderer`` accepted beside ``mode``, a clear error when they disagree."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path

import pytest
from rich.console import Console
from rich.text import Text

from arbdash.bot.config import ConfigError, DashboardConfig, load_config
from arbdash.dashboard.reducer import Reducer
from arbdash.dashboard.service import DashboardService
from arbdash.dashboard.sources.file_source import JsonlSource
from arbdash.dashboard.theme import LIGHT, Recoloured, effective, themed
from arbdash.logging_pipeline.sinks.reducer_tee import ReducerTee

SGR_COLOUR = re.compile(r"\x1b\[[0-9;]*(?:3[0-9]|4[0-9]|9[0-7]|10[0-7])[;m]")
SHIPPED = Path(__file__).resolve().parent.parent / "configs" / "funding_arb_paper.yml"


def _ansi(renderable: object) -> str:
    console = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=60)
    console.print(renderable)
    return console.file.getvalue()  # type: ignore[attr-defined]


def test_light_swaps_the_colours_that_vanish_on_white() -> None:
    text = Text.assemble(("warn", "bold yellow"), " ", ("ok", "green"), " ", ("plain", "bold"))
    dark, light = _ansi(text), _ansi(themed(text, "light"))
    assert dark != light
    assert (
        _ansi(Text("warn", style="bold dark_goldenrod")).split("warn")[0] in light
    )  # yellow → dark goldenrod
    assert _ansi(themed(text, "dark")) == dark
    assert set(LIGHT) >= {"yellow", "white", "green"} and isinstance(themed(text, "light"), Recoloured)


def test_none_and_no_color_draw_no_colour() -> None:
    assert effective("dark", {"NO_COLOR": "1"}) == "none" and effective("light", {}) == "light"
    with pytest.raises(ValueError, match="unknown theme"):
        effective("pink", {})


@pytest.mark.parametrize(("theme", "env"), [("none", {}), ("dark", {"NO_COLOR": "1"})])
def test_the_live_view_without_colour(
    theme: str, env: dict[str, str], real_log: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``theme: none`` (or ``NO_COLOR``): the live frame still moves the cursor, but carries no colour."""
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    stream = io.StringIO()

    async def main() -> None:
        reducer = Reducer()
        async with JsonlSource(real_log) as src:
            await src.load(reducer)
        async with DashboardService(
            ReducerTee(), reducer, mode="live", stream=stream, force_terminal=True, width=120, theme=theme
        ) as service:
            while service.frames_drawn < 1:
                await asyncio.sleep(0.01)

    asyncio.run(main())
    out = stream.getvalue()
    assert "positions" in out and "\x1b[" in out  # drawn in place
    assert not SGR_COLOUR.search(out)


def test_the_seed_names_are_accepted_and_must_agree(tmp_path: Path) -> None:
    assert DashboardConfig(enabled=False).mode == "off"
    assert (
        DashboardConfig(renderer="rich").mode == "live" and DashboardConfig(renderer="plain").mode == "plain"
    )
    assert DashboardConfig(enabled=True, renderer="plain", mode="plain").mode == "plain"
    text = SHIPPED.read_text(encoding="utf-8")
    assert "\ndashboard:\n" in text
    for extra, says in (
        ("  enabled: false\n  mode: live\n", "enabled: false means mode: off, but mode: live is given"),
        ("  renderer: plain\n  mode: live\n", "renderer: plain means mode: plain, but mode: live is given"),
        ("  theme: pink\n", "dashboard.theme: Input should be 'dark', 'light' or 'none'"),
    ):
        path = tmp_path / "c.yml"
        body = re.sub(r"\n  mode: [a-z]+[^\n]*", "", text)  # the shipped mode line, if any, gives way
        path.write_text(body.replace("\ndashboard:\n", "\ndashboard:\n" + extra, 1), encoding="utf-8")
        with pytest.raises(ConfigError) as info:
            load_config(path)
        assert says in str(info.value), str(info.value)
        assert str(info.value).startswith(f"{path}:")

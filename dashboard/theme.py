"""Colour themes of the Rich views (seed §6.5: "color theme (light/dark)"): ``dark``, ``light``, ``none``.

The renderers choose colours for a dark terminal (``dark``, the default). ``light`` draws the same frame with the
colours that vanish on a white background (yellow, white, bright ones) swapped for darker ones, by recolouring the
rendered segments (``Recoloured``), so the renderers keep one set of styles; ``none`` draws no colour at all
(``console_options``: Rich's ``no_color``), as does ``NO_COLOR`` in the environment (https://no-color.org), whatever
the theme asks for. Bold, dim and the layout are the same in every theme.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from rich.console import Console, ConsoleOptions, RenderableType
from rich.segment import Segment
from rich.style import Style

Theme = Literal["dark", "light", "none"]
THEMES: tuple[Theme, ...] = ("dark", "light", "none")

#: ``light``: colour name → the colour used instead (Rich's standard and 256-colour names).
LIGHT: Mapping[str, str] = {
    "white": "black",
    "bright_white": "black",
    "yellow": "dark_goldenrod",
    "bright_yellow": "dark_goldenrod",
    "green": "dark_green",
    "bright_green": "dark_green",
    "cyan": "dark_cyan",
    "bright_cyan": "dark_cyan",
    "magenta": "dark_magenta",
    "bright_magenta": "dark_magenta",
    "blue": "blue3",
    "bright_blue": "blue3",
}


def effective(theme: str, environ: Mapping[str, str] | None = None) -> Theme:
    """The theme to draw with: ``none`` when ``NO_COLOR`` is set (to anything), else ``theme``. Raises
    ``ValueError`` for an unknown theme."""
    if theme not in THEMES:
        raise ValueError(f"unknown theme {theme!r}: use one of {', '.join(THEMES)}")
    env = os.environ if environ is None else environ
    return "none" if "NO_COLOR" in env else theme  # type: ignore[return-value]


def console_options(theme: Theme) -> dict[str, Any]:
    """Keyword arguments for ``rich.console.Console`` in ``theme`` (``no_color`` for ``none``)."""
    return {"no_color": True} if theme == "none" else {}


class Recoloured:
    """``renderable`` drawn with its foreground and background colours mapped by ``colours`` (name → name)."""

    def __init__(self, renderable: RenderableType, colours: Mapping[str, str]) -> None:
        self.renderable = renderable
        self.colours = colours
        self._cache: dict[Style, Style] = {}

    def _style(self, style: Style) -> Style:
        done = self._cache.get(style)
        if done is None:
            swap: dict[str, str] = {}
            if style.color is not None and style.color.name in self.colours:
                swap["color"] = self.colours[style.color.name]
            if style.bgcolor is not None and style.bgcolor.name in self.colours:
                swap["bgcolor"] = self.colours[style.bgcolor.name]
            done = style + Style(**swap) if swap else style
            self._cache[style] = done
        return done

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> Iterator[Segment]:
        for segment in console.render(self.renderable, options):
            style = segment.style
            if style is None or segment.control:
                yield segment
            else:
                yield Segment(segment.text, self._style(style), segment.control)


def themed(renderable: RenderableType, theme: Theme) -> RenderableType:
    """``renderable`` as ``theme`` draws it (``light`` recolours it; ``dark`` and ``none`` leave it: ``none`` is
    the console's ``no_color``)."""
    return Recoloured(renderable, LIGHT) if theme == "light" else renderable

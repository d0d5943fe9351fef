"""The ``alerts:`` block of a bot config: rules on the dashboard's figures and where to send what fires.

    alerts:
      notify:                                   # apprise URLs (secrets: redacted from every log)
        - tgram://<bot token>/<chat id>
        - json://127.0.0.1:9000/arbdash         # a generic JSON webhook
      rules:
        - {name: drawdown, figure: net_pnl_drawdown_usd, above: 50, severity: warning}
        - {name: eroded, figure: position_erosion_pct, above: 60, severity: info, cooldown_s: 3600}
        - {name: stalled, figure: seconds_since_event, above: 30, severity: critical}
        - {name: liquidation, figure: liquidation_distance_pct, below: 15, severity: critical}
        - {name: majors-drawdown, figure: net_pnl_drawdown_usd, above: 20, strategy: majors}

A rule fires when its figure crosses its threshold (``above``: value > threshold; ``below``: value <
threshold) and resolves when it no longer does; ``cooldown_s`` (default 300) is the least time between two firings
of the same alert (rule and position) — a flapping figure fires once per cooldown, the rest are counted.
``severity``: ``info`` / ``warning`` / ``critical`` (the event's level and the notification's type).
``strategy``: the rule watches one strategy instance of a session running several (its positions, its net PnL
and drawdown, its funding: ``alerts.figures``); its events carry that strategy like the instance's own.

Checked before the run (``bot.config`` turns these into ``file:line: field: message`` errors, exit 2): a figure
that does not exist, two rules with one name, neither or both of ``above``/``below``, a notification URL apprise
cannot parse, a ``strategy`` on a figure of the session's health (and, in ``bot.config``, a ``strategy`` the
config does not run).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from arbdash.alerts.figures import FIGURES

Severity = Literal["info", "warning", "critical"]
_NAME = r"^[A-Za-z0-9_.-]{1,40}$"


class AlertRule(BaseModel):
    """One rule: ``figure`` (``alerts.figures.FIGURES``) against ``above`` or ``below`` (the figure's unit)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME)
    figure: str
    above: Decimal | None = None
    below: Decimal | None = None
    severity: Severity = "warning"
    cooldown_s: int = Field(default=300, ge=0, le=7 * 24 * 3600)
    strategy: str | None = Field(default=None, pattern=_NAME)

    @field_validator("figure")
    @classmethod
    def _known(cls, v: str) -> str:
        if v not in FIGURES:
            raise ValueError(f"unknown figure {v!r} (known: {', '.join(sorted(FIGURES))})")
        return v

    @model_validator(mode="after")
    def _one_threshold(self) -> AlertRule:
        if (self.above is None) == (self.below is None):
            raise ValueError("give exactly one of above / below")
        for t in (self.above, self.below):
            if t is not None and not t.is_finite():
                raise ValueError("the threshold must be a finite number")
        if self.strategy is not None and not FIGURES[self.figure].scoped:
            raise ValueError(f"{self.figure} is the session's own health: a rule on it takes no strategy")
        return self

    @property
    def threshold(self) -> Decimal:
        return self.above if self.above is not None else self.below  # type: ignore[return-value]

    def breached(self, value: Decimal) -> bool:
        """Whether ``value`` is past the threshold (strictly)."""
        return value > self.above if self.above is not None else value < self.below  # type: ignore[operator]


class AlertsConfig(BaseModel):
    """``rules`` (each name once) and ``notify`` (apprise URLs; empty: alerts are events only)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rules: list[AlertRule] = Field(default_factory=list, max_length=100)
    notify: list[SecretStr] = Field(default_factory=list, max_length=20)
    queue_size: int = Field(default=256, ge=1, le=100_000)
    retries: int = Field(default=3, ge=0, le=10)

    @field_validator("rules")
    @classmethod
    def _unique(cls, rules: list[AlertRule]) -> list[AlertRule]:
        seen: set[str] = set()
        for r in rules:
            if r.name in seen:
                raise ValueError(f"two rules are named {r.name!r}")
            seen.add(r.name)
        return rules

    @field_validator("notify")
    @classmethod
    def _parsable(cls, urls: list[SecretStr]) -> list[SecretStr]:
        if urls:
            import apprise

            for i, url in enumerate(urls):
                if apprise.Apprise.instantiate(url.get_secret_value()) is None:
                    raise ValueError(
                        f"notify[{i}]: apprise cannot use this URL (its scheme or form is wrong)"
                    )
        return urls

    def secret_values(self) -> list[str]:
        """The notification URLs (they hold tokens), for the log redactor."""
        return [u.get_secret_value() for u in self.notify]


__all__ = ["AlertRule", "AlertsConfig", "Severity"]

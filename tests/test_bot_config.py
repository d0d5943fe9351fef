"""Config validation: the shipped config loads; bad configs fail with ConfigError naming file and field."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from arbdash.bot.config import BotConfig, ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "configs" / "funding_arb_paper.yml"


def _write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "bad.yml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _shipped_dict() -> dict:
    return yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))


def test_shipped_config_loads_with_exact_decimals() -> None:
    cfg = load_config(SHIPPED)
    assert isinstance(cfg, BotConfig)
    assert cfg.strategy.scan_exchanges == ["binance", "bybit", "hyperliquid"]
    assert cfg.venues["bybit"].taker_fee == Decimal("0.00055")  # exact, not a float's binary expansion
    assert cfg.strategy.min_profit_rate == Decimal("0.20")
    assert cfg.market.speed == Decimal(3600)
    assert cfg.dashboard.mode == "live" and cfg.dashboard.persistence.enabled is False
    assert cfg.logging.log_dir == Path("logs")


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda d: d["strategy"].pop("max_positions"), "strategy.max_positions: Field required"),
        (
            lambda d: d["strategy"].update(max_positions=0),
            "strategy.max_positions: Input should be greater than",
        ),
        (lambda d: d["strategy"].update(target_margin="lots"), "strategy.target_margin"),
        (
            lambda d: d["strategy"].update(mandatory_exchange="okx"),
            "mandatory_exchange 'okx' is not in scan_exchanges",
        ),
        (lambda d: d["strategy"].update(scan_exchanges=["binance", "okx"]), "no entry in venues"),
        (lambda d: d["strategy"].update(max_entry_price_divergnce_pct=1), "Extra inputs are not permitted"),
        (lambda d: d["strategy"].update(dry_run=False), "dry_run: false is not supported"),
        (lambda d: d["dashboard"].update(mode="fancy"), "dashboard.mode"),
        (lambda d: d["market"].update(start="2026-03-01T00:30:00+00:00"), "must be on the hour"),
        (lambda d: d["market"].update(start="2026-03-01T00:00:00"), "market.start"),  # naive datetime
        (lambda d: d["venues"]["binance"].update(order_failure_rate=2), "venues.binance.order_failure_rate"),
    ],
)
def test_invalid_config_raises_clear_config_error(tmp_path: Path, mutate, expected: str) -> None:
    data = _shipped_dict()
    mutate(data)
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert text.startswith(str(path)), text
    assert expected in text, text


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "nope.yml")
    bad = tmp_path / "broken.yml"
    bad.write_text("strategy: [unclosed\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    top = tmp_path / "list.yml"
    top.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a mapping"):
        load_config(top)


def test_errors_name_the_file_and_line_and_show_values_as_written(tmp_path: Path) -> None:
    """Issue 14: bad YAML names the file (not ``<unicode string>``) and its line; a bad field names its line; a
    negative ``min_profit_rate`` is refused; a date-only ``start`` is shown as ISO, not ``datetime.date(...)``."""
    shipped = Path(__file__).resolve().parent.parent / "configs" / "funding_arb_paper.yml"
    lines = shipped.read_text(encoding="utf-8").splitlines()
    bad = tmp_path / "bad.yml"
    bad.write_text("\n".join([*lines, "  oops: [unclosed"]) + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(bad)
    assert str(info.value).startswith(f"{bad}:{len(lines) + 2}:") and "<unicode string>" not in str(
        info.value
    )
    rate = next(i for i, line in enumerate(lines) if line.strip().startswith("min_profit_rate:"))
    negative = tmp_path / "negative.yml"
    negative.write_text(
        "\n".join(line if i != rate else line.split(":")[0] + ": -5" for i, line in enumerate(lines)) + "\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(negative)
    assert (
        str(info.value)
        == f"{negative}:{rate + 1}: strategy.min_profit_rate: Input should be greater than or equal to 0 (got -5)"
    )
    dated = tmp_path / "dated.yml"
    text = shipped.read_text(encoding="utf-8")
    assert "\n  start: null" in text
    dated.write_text(text.replace("\n  start: null", "\n  start: 2027-01-01", 1), encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(dated)
    assert "(got 2027-01-01)" in str(info.value) and "datetime.date" not in str(info.value)
    assert all(line.startswith(f"{dated}:") for line in str(info.value).splitlines())

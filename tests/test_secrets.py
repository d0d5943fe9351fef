"""Secrets never leave the process (issue 5 §4): seeded in the config, in exceptions and in a third-party stdlib
record during a real run, they appear in no output — console, text log, JSONL, PostgreSQL rows — nor in the
config's ``repr``."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest
from support_runs import run_bot_in_process, shipped_config

import arbdash.tools.runbot_run as runbot_run
from arbdash.bot.config import BotConfig
from arbdash.helpers.unified_logger import get_logger
from arbdash.logging_pipeline.redact import REDACTED

API_KEY = "AKIAjq7Zx9Lw2Vt5Pb"
API_SECRET = "q8Jd-3fKs_Zm1Wn0Xr7TyB"
DB_PASSWORD = "c0rrect-h0rse-b4ttery"


def _config_with_secrets(dsn: str | None = None) -> BotConfig:
    cfg = shipped_config()
    data = cfg.model_dump(mode="python")
    for creds in data["venues"].values():
        creds["api_key"], creds["api_secret"] = API_KEY, API_SECRET
    data["logging"]["text_log"] = True
    data["dashboard"]["persistence"]["dsn"] = dsn or f"postgresql://bot:{DB_PASSWORD}@db.invalid:5432/arb"
    data["dashboard"]["persistence"]["enabled"] = dsn is not None
    return BotConfig.model_validate(data)


def _leaky_run_bot(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bot, plus a third-party library logging a secret, a handled exception carrying the API key and, at the
    end, a crash whose message carries the DB password and the key."""
    real = runbot_run.run_bot

    async def leaky(config: BotConfig, **kwargs: Any) -> Any:
        logging.getLogger("ccxt.binance").warning("signing request with secret %s", API_SECRET)
        try:
            raise PermissionError(f"venue rejected key {API_KEY}")
        except PermissionError:
            get_logger("bot.venue").exception("order signing failed")
        await real(config, **kwargs)
        raise ConnectionError(f"lost postgresql://bot:{DB_PASSWORD}@db/arb while using key {API_KEY}")

    monkeypatch.setattr(runbot_run, "run_bot", leaky)


def _assert_clean(text: str, where: str) -> None:
    for secret in (API_KEY, API_SECRET, DB_PASSWORD):
        assert secret not in text, f"{secret!r} leaked into {where}"


def test_config_repr_hides_secrets() -> None:
    cfg = _config_with_secrets()
    _assert_clean(repr(cfg), "repr(config)")
    _assert_clean(str(cfg), "str(config)")
    assert API_KEY in cfg.secret_values() and cfg.dashboard.persistence.dsn in cfg.secret_values()


@pytest.mark.parametrize("mode", ["off", "plain"])
def test_seeded_secrets_reach_no_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], mode: str
) -> None:
    _leaky_run_bot(monkeypatch)
    run = run_bot_in_process(tmp_path, mode=mode, config=_config_with_secrets())
    out, err = capfd.readouterr()
    assert run.code == 1 and run.events[-1]["health"] == "error"  # the crash path was taken
    _assert_clean(out + err, "the console")
    jsonl = run.jsonl.read_text()
    _assert_clean(jsonl, "the JSONL")
    (text_log,) = run.jsonl.parent.glob("session_*.log")
    _assert_clean(text_log.read_text(), "the text log")
    assert jsonl.count(REDACTED) >= 3  # the events are there, redacted
    assert "ccxt.binance" in jsonl and "PermissionError" in jsonl and "ConnectionError" in jsonl
    if mode == "off":
        assert "order signing failed" in out and REDACTED in out


def _with_password(dsn: str) -> str:
    """The test server's DSN with ``DB_PASSWORD`` added (a trust-auth server ignores it; the sink still has it)."""
    parts = urlsplit(dsn)
    if parts.password or "@" not in parts.netloc:
        pytest.skip("the test DSN already has a password or is not a URL")
    user, host = parts.netloc.split("@", 1)
    return urlunsplit(parts._replace(netloc=f"{user}:{DB_PASSWORD}@{host}"))


@pytest.mark.pg
def test_seeded_secrets_reach_no_database_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], pg_dsn: str
) -> None:
    _leaky_run_bot(monkeypatch)
    run = run_bot_in_process(tmp_path, mode="plain", config=_config_with_secrets(_with_password(pg_dsn)))
    out, err = capfd.readouterr()
    assert run.code == 1
    _assert_clean(out + err + run.jsonl.read_text(), "the console or the JSONL")

    async def dump() -> tuple[int, str]:
        conn = await asyncpg.connect(pg_dsn)
        try:
            count = await conn.fetchval("SELECT count(*) FROM dashboard_events")
            texts = [
                await conn.fetchval(f"SELECT coalesce(string_agg(t::text, E'\\n'), '') FROM {table} t")
                for table in ("dashboard_events", "dashboard_sessions", "dashboard_snapshots")
            ]
        finally:
            await conn.close()
        return count, "\n".join(texts)

    count, rows = asyncio.run(dump())
    assert count == len(run.events)
    _assert_clean(rows, "the database rows")
    assert REDACTED in rows

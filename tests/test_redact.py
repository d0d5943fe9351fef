"""Secrets never leave the process: redaction by key name and by value shape, before any sink sees them."""

from __future__ import annotations

import logging
from pathlib import Path

from arbdash.helpers.unified_logger import get_logger
from arbdash.logging_pipeline import Pipeline
from arbdash.logging_pipeline.redact import REDACTED, Redactor
from arbdash.logging_pipeline.sinks.jsonl import JsonlSink

API_SECRET = "s3cr3t-Api-Value-9f8e7d"
PG_PASSWORD = "hunter2pw"
PRIVATE_KEY = "0x" + "ab" * 32


def test_key_names_and_value_shapes_are_redacted() -> None:
    r = Redactor()
    event = r(
        None,
        "info",
        {
            "binance_api_secret": API_SECRET,
            "password": PG_PASSWORD,
            "nested": {"auth": {"private_key": PRIVATE_KEY}, "items": [f"token={API_SECRET}"]},
            "message": f"connect postgresql://bot:{PG_PASSWORD}@db:5432/arb failed; Authorization: Bearer abc.def.ghi",
            "symbol": "BTC",
        },
    )
    assert event["binance_api_secret"] == REDACTED
    assert event["password"] == REDACTED
    assert event["nested"]["auth"]["private_key"] == REDACTED
    assert API_SECRET not in str(event["nested"]["items"])
    assert PG_PASSWORD not in event["message"] and "postgresql://bot:***@db:5432/arb" in event["message"]
    assert "abc.def.ghi" not in event["message"]
    assert event["symbol"] == "BTC"


def test_registered_values_are_redacted_anywhere() -> None:
    r = Redactor([API_SECRET])
    assert r.scrub(f"HTTP 401 for key {API_SECRET} on /fapi") == f"HTTP 401 for key {REDACTED} on /fapi"


async def test_secrets_in_exceptions_and_stdlib_records_never_reach_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    log = get_logger("tests.redact")
    async with Pipeline(session_id="s", sinks=[JsonlSink(path)], secrets=[API_SECRET]):
        try:
            raise ConnectionError(f"auth failed for postgresql://bot:{PG_PASSWORD}@10.0.0.5/arb")
        except ConnectionError:
            log.exception("db connect failed")
        logging.getLogger("thirdparty.http").warning("retrying with api_key=%s", API_SECRET)
        log.info("wallet", private_key=PRIVATE_KEY, note=f"pk {PRIVATE_KEY}")
    text = path.read_text()
    for secret in (API_SECRET, PG_PASSWORD, PRIVATE_KEY):
        assert secret not in text
    assert text.count(REDACTED) >= 3

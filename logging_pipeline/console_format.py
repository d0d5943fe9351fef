"""The human console look of the bot (kept as it was before the dashboard):

* a log line: ``YYYY-MM-DD HH:mm:ss | LEVEL    | module:function:line (padded to 40) | message``, coloured by level;
* a stage banner: a rule of 55 ``=``, ``"{stage_id}. {icon} {title}"``, the rule again.

The time shown is the market clock when the event has one (the bot lives in market time), else the wall clock.
Text from events is made inert by the project's one escaper, ``logging_pipeline.escape.safe_text`` (the
dashboard's too): controls (ESC, BEL, CR, …), bidi overrides and other format characters are shown as visible
escapes, so a log message can never move the cursor, retitle the terminal nor reorder what is read. A message,
banner or traceback keeps its newlines and tabs (``multiline``); the source column is one line.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from arbdash.logging_pipeline.escape import safe_text

RULE = "=" * 55
_LEVEL_COLOURS = {
    "debug": "\x1b[36m",
    "info": "\x1b[32m",
    "warning": "\x1b[33m",
    "error": "\x1b[31m",
    "critical": "\x1b[1;31m",
}
_RESET = "\x1b[0m"


def _when(record: dict[str, Any]) -> str:
    when = record.get("market_ts") or record["ts"]
    if isinstance(when, datetime):
        return when.strftime("%Y-%m-%d %H:%M:%S")
    return str(when)[:19].replace("T", " ")


def format_record(record: dict[str, Any], *, colour: bool) -> str:
    """One event as console text (a banner is three lines). No trailing newline."""
    if record["event"] == "stage.changed":
        return f"{RULE}\n{safe_text(record['message'], multiline=True)}\n{RULE}"
    level = record["level"]
    label = f"{level.upper():<8}"
    if colour:
        label = f"{_LEVEL_COLOURS.get(level, '')}{label}{_RESET}"
    src = safe_text(record.get("src") or record.get("logger", ""))
    message = record.get("message") or record["event"]
    text = f"{_when(record)} | {label} | {src:<40} | {safe_text(message, multiline=True)}"
    exc = record.get("exc")
    if exc:
        text += "\n" + safe_text(exc, multiline=True)
    return text

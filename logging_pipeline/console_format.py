"""The human console look of the bot (kept as it was before the dashboard):

* a log line: ``YYYY-MM-DD HH:mm:ss | LEVEL    | module:function:line (padded to 40) | message``, coloured by level;
* a stage banner: a rule of 55 ``=``, ``"{stage_id}. {icon} {title}"``, the rule again.

The time shown is the market clock when the event has one (the bot lives in market time), else the wall clock.
Text from events is made inert: control characters (ESC, BEL, CR, …) are escaped so a log message can never
move the cursor or retitle the terminal.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

RULE = "=" * 55
_LEVEL_COLOURS = {
    "debug": "\x1b[36m",
    "info": "\x1b[32m",
    "warning": "\x1b[33m",
    "error": "\x1b[31m",
    "critical": "\x1b[1;31m",
}
_RESET = "\x1b[0m"
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def inert(text: str) -> str:
    """Escape C0/C1 control characters (except newline and tab) as ``\\xNN`` so they print as text."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def _when(record: dict[str, Any]) -> str:
    when = record.get("market_ts") or record["ts"]
    if isinstance(when, datetime):
        return when.strftime("%Y-%m-%d %H:%M:%S")
    return str(when)[:19].replace("T", " ")


def format_record(record: dict[str, Any], *, colour: bool) -> str:
    """One event as console text (a banner is three lines). No trailing newline."""
    if record["event"] == "stage.changed":
        return f"{RULE}\n{inert(record['message'])}\n{RULE}"
    level = record["level"]
    label = f"{level.upper():<8}"
    if colour:
        label = f"{_LEVEL_COLOURS.get(level, '')}{label}{_RESET}"
    src = record.get("src") or record.get("logger", "")
    message = record.get("message") or record["event"]
    text = f"{_when(record)} | {label} | {src:<40} | {inert(message)}"
    exc = record.get("exc")
    if exc:
        text += "\n" + inert(str(exc)).replace("\\x0a", "\n")
    return text

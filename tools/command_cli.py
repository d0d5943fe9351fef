"""``runbot command …``: send an operator command to a running bot's control server (``POST /api/commands``).

    export ARBDASH_TOKEN=…                                   # the bot's dashboard.server.token
    runbot command pause-entries                             # → "entries paused"
    runbot command resume-entries
    runbot command close-position P0003-ETH                  # asks first (--yes to skip)
    runbot command flatten-all --yes
    runbot command set-limit max_positions 2
    runbot command status cli-3f2a…                          # the answer to an earlier command, by id

``--url`` (or ``$ARBDASH_URL``; default ``http://127.0.0.1:8765``) names the server, e.g. through an SSH tunnel
(``ssh -L 8765:127.0.0.1:8765 host``). The token is read from an environment variable (``$ARBDASH_TOKEN``, or
the one ``--token-env`` names), never from the command line, where ``ps`` and shell history would show it.
Each command gets an id (``--id``, default ``cli-<random>``); sending the same id again is safe — the bot applies
it once and answers with the first outcome — so a command whose answer was lost can be retried as is.

Exit codes: 0 executed, 1 rejected by the bot (the reason is printed), 3 still pending after the server's wait
(``runbot command status ID`` tells later), 2 for everything that did not reach the bot as a command (no
token, server unreachable, refused by the server, a question answered no).
"""

from __future__ import annotations

import os
import sys
import uuid
from typing import Annotated, Any

import typer

DEFAULT_URL = "http://127.0.0.1:8765"
TIMEOUT_S = 30.0

UrlOpt = Annotated[
    str,
    typer.Option("--url", envvar="ARBDASH_URL", metavar="URL", help="The bot's control server."),
]
TokenEnvOpt = Annotated[
    str,
    typer.Option("--token-env", metavar="NAME", help="The environment variable holding the bearer token."),
]
IdOpt = Annotated[
    str | None,
    typer.Option(
        "--id", metavar="ID", help="Command id (1–64 of A-Z a-z 0-9 . _ : -); resend it to retry safely."
    ),
]
YesOpt = Annotated[bool, typer.Option("--yes", "-y", help="Do not ask before closing positions.")]

command_app = typer.Typer(
    add_completion=False,
    rich_markup_mode=None,
    no_args_is_help=True,
    help="Send an operator command to a running bot (its control server: runbot --serve, with a token).",
)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"runbot command: {message}", err=True)
    return typer.Exit(2)


def _token(name: str) -> str:
    token = os.environ.get(name, "").strip()
    if not token:
        raise _fail(f"no token: set ${name} to the bot's dashboard.server.token")
    return token


def _request(method: str, url: str, path: str, token: str, body: dict[str, Any] | None = None) -> Any:
    """One request; returns the ``httpx.Response``. Raises ``typer.Exit(2)`` when the server cannot be reached."""
    import httpx

    try:
        with httpx.Client(base_url=url.rstrip("/"), timeout=TIMEOUT_S) as client:
            return client.request(method, path, json=body, headers={"authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        raise _fail(f"cannot reach {url}: {type(exc).__name__}: {exc}") from None


def _answer(resp: Any) -> None:
    """Print the bot's answer and exit with its code (see the module docstring)."""
    try:
        body = resp.json()
    except ValueError:
        raise _fail(f"HTTP {resp.status_code}: the server did not answer JSON") from None
    if not isinstance(body, dict):
        raise _fail(f"HTTP {resp.status_code}: unexpected answer")
    if "status" in body and "command" in body:  # the bot's answer to a command
        status = body["status"]
        again = " (a repeat: applied once, first outcome)" if body.get("duplicate") else ""
        reason = f" {body['reason']}" if body.get("reason") else ""
        typer.echo(f"{body['command']} {status}{reason}: {body.get('message', '')}{again} [id {body['id']}]")
        raise typer.Exit({"executed": 0, "rejected": 1, "pending": 3}.get(status, 1))
    raise _fail(f"HTTP {resp.status_code} {body.get('error', '')}: {body.get('message', '')}")


def _send(url: str, token_env: str, command_id: str | None, body: dict[str, Any]) -> None:
    token = _token(token_env)
    body = {"id": command_id or f"cli-{uuid.uuid4().hex[:16]}", **body}
    _answer(_request("POST", url, "/api/commands", token, body))


def _confirm(question: str, yes: bool) -> None:
    if yes:
        return
    if not sys.stdin.isatty():
        raise _fail(f"{question} — not asked without a terminal: pass --yes")
    if not typer.confirm(question, default=False):
        raise _fail("not sent")


@command_app.command("pause-entries")
def pause_entries(
    url: UrlOpt = DEFAULT_URL, token_env: TokenEnvOpt = "ARBDASH_TOKEN", id: IdOpt = None
) -> None:
    """Open no new position until resume-entries (open positions are still monitored and exited)."""
    _send(url, token_env, id, {"command": "pause_entries"})


@command_app.command("resume-entries")
def resume_entries(
    url: UrlOpt = DEFAULT_URL, token_env: TokenEnvOpt = "ARBDASH_TOKEN", id: IdOpt = None
) -> None:
    """Allow new entries again."""
    _send(url, token_env, id, {"command": "resume_entries"})


@command_app.command("close-position")
def close_position(
    position_id: Annotated[
        str, typer.Argument(metavar="POSITION_ID", help="e.g. P0003-ETH (the positions pane).")
    ],
    url: UrlOpt = DEFAULT_URL,
    token_env: TokenEnvOpt = "ARBDASH_TOKEN",
    id: IdOpt = None,
    yes: YesOpt = False,
) -> None:
    """Close one position now, both legs (exit code OPERATOR_CLOSE)."""
    _confirm(f"close {position_id} now?", yes)
    _send(url, token_env, id, {"command": "close_position", "position_id": position_id})


@command_app.command("flatten-all")
def flatten_all(
    url: UrlOpt = DEFAULT_URL, token_env: TokenEnvOpt = "ARBDASH_TOKEN", id: IdOpt = None, yes: YesOpt = False
) -> None:
    """Close every open position (OPERATOR_CLOSE) and pause entries."""
    _confirm("close every open position and pause entries?", yes)
    _send(url, token_env, id, {"command": "flatten_all"})


@command_app.command("set-limit")
def set_limit(
    limit: Annotated[str, typer.Argument(metavar="LIMIT", help="max_positions or max_total_exposure_usd.")],
    value: Annotated[str, typer.Argument(metavar="VALUE", help="A whole number, or USD for the exposure.")],
    url: UrlOpt = DEFAULT_URL,
    token_env: TokenEnvOpt = "ARBDASH_TOKEN",
    id: IdOpt = None,
) -> None:
    """Change a risk limit for the rest of the session (new entries only)."""
    if limit not in ("max_positions", "max_total_exposure_usd"):
        raise _fail(f"unknown limit {limit!r} (max_positions or max_total_exposure_usd)")
    _send(url, token_env, id, {"command": "set_limit", "limit": limit, "value": value})


@command_app.command("status")
def status(
    command_id: Annotated[
        str, typer.Argument(metavar="ID", help="The id printed when the command was sent.")
    ],
    url: UrlOpt = DEFAULT_URL,
    token_env: TokenEnvOpt = "ARBDASH_TOKEN",
) -> None:
    """The answer to an earlier command (pending while it waits for the strategy's next safe point)."""
    import urllib.parse

    _answer(
        _request("GET", url, f"/api/commands/{urllib.parse.quote(command_id, safe='')}", _token(token_env))
    )


def register(app: Any) -> None:
    """Add ``command`` (this module's sub-commands) to ``app`` (``runbot``)."""
    app.add_typer(command_app, name="command")


__all__ = ["command_app", "register"]

"""The command lines start at once (issue 10 item 5): importing ``tools.arbtail`` or ``tools.runbot_cli`` — all
that ``--help`` of any command needs — loads none of the heavy libraries or the dashboard's engine; they are
imported by the command that uses them. The times themselves are measured by ``tools/bench_coldstart.py``
(README), never asserted here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = (
    "asyncpg",
    "pydantic",
    "rich",
    "structlog",
    "yaml",
    "msgspec",
    "arbdash.dashboard.reducer",
    "arbdash.dashboard.render_rich",
    "arbdash.logging_pipeline.pipeline",
    "arbdash.logging_pipeline.postgres.sink",
    "arbdash.bot.config",
    "arbdash.bot.runner",
    "arbdash.tools.pg_admin",
    "arbdash.tools.arbtail_view",
    "arbdash.tools.runbot_run",
)


@pytest.mark.parametrize("module", ["arbdash.tools.arbtail", "arbdash.tools.runbot_cli"])
def test_importing_a_command_line_loads_nothing_heavy(module: str) -> None:
    probe = f"import sys, {module}; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == []


def test_help_of_every_command_answers_without_loading_the_engine() -> None:
    """``--help`` goes through Typer's own machinery only: the commands' bodies (which import the engine) do
    not run."""
    probe = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from arbdash.tools.arbtail import app\n"
        "from arbdash.tools.runbot_cli import app as runbot\n"
        "r = CliRunner()\n"
        "for args in (['--help'], ['show', '--help'], ['stats', '--help'], ['grep', '--help'],"
        " ['export', '--help'], ['sessions', '--help'], ['import', '--help']):\n"
        "    assert r.invoke(app, args).exit_code == 0, args\n"
        "assert r.invoke(runbot, ['--help']).exit_code == 0\n"
        f"print(' '.join(m for m in {HEAVY[5:]!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == []

"""Edges of the command lines an operator meets first (issue 14 item 5): every error one line in one style,
exit codes that agree between commands, help that names what an option takes."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from tools.arbtail import app


def test_stats_on_a_file_without_events_exits_2_like_once(tmp_path: Path) -> None:
    """``arbtail stats`` on something that is not a session log says so and exits 2, as ``--once`` does."""
    notes = tmp_path / "notes.txt"
    notes.write_text("root:x:0:0:root:/root:/bin/bash\nnot an event\n", encoding="utf-8")
    stats = CliRunner().invoke(app, ["stats", str(notes)])
    once = CliRunner().invoke(app, [str(notes), "--once"])
    assert stats.exit_code == once.exit_code == 2
    assert stats.stderr == once.stderr
    assert stats.stderr.count("\n") == 1 and "no event in it, 2 lines skipped" in stats.stderr


@pytest.mark.parametrize("command", [["show"], ["grep"], ["stats"], ["export"]])
def test_help_names_what_options_take(command: list[str]) -> None:
    """Options show a metavar (``TIME``, ``DSN``, ``EVENT``…), never a Python type (``<str>``,
    ``<list[str]>``)."""
    out = CliRunner().invoke(app, [*command, "--help"], terminal_width=120)
    assert out.exit_code == 0
    options = [line for line in out.stdout.splitlines() if line.lstrip().startswith("-")]
    assert options and not [line for line in options if "<str>" in line or "<list" in line]
    if command == ["show"]:
        assert (
            all(f"{opt} TIME" in out.stdout for opt in ("--at", "--from", "--to"))
            and "--db DSN" in out.stdout
        )
    if command == ["grep"]:
        assert "--event EVENT" in out.stdout and "--since TIME" in out.stdout

"""Shared pytest fixtures. PostgreSQL fixtures live in ``tests/pg_fixtures.py``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
from pg_fixtures import pg_base_dsn, pg_dsn  # noqa: E402,F401  (PostgreSQL fixtures, tests/pg_fixtures.py)
from support_terminal import Pane  # noqa: E402

from arbdash.tools.bench_arbtail import real_run  # noqa: E402  (one paper run of the shipped config)


@pytest.fixture(scope="session")
def real_log(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The JSONL of one real paper run (``runbot --speed 0`` on the shipped config: months of market time,
    ~31k events, checkpoints) shared by the tests that read logs. Read-only: a test that needs a changed log
    writes its own copy."""
    logs = tmp_path_factory.mktemp("real-log")
    real_run(logs, timeout=120)
    (path,) = logs.glob("*.jsonl")
    path.chmod(0o444)
    return path


@pytest.fixture
def pane_factory(tmp_path: Path) -> Iterator[Callable[..., Pane]]:
    panes: list[Pane] = []

    def make(**kwargs: Any) -> Pane:
        pane = Pane(tmp_path, **kwargs)
        panes.append(pane)
        return pane

    yield make
    for pane in panes:
        pane.close()

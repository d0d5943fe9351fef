"""Dependencies point one way (DESIGN.md "no back-calls", STYLE.md): the pipeline and its sinks feed the dashboard
and never reach into it — ``logging_pipeline`` imports no ``dashboard`` module, not even the PostgreSQL sink's
wiring (snapshots arrive as ``dashboard.checkpoint`` events; net PnL is computed by readers)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"), str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {n.removeprefix("arbdash.") for n in names}


def test_no_logging_pipeline_module_imports_the_dashboard() -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in _imported_modules(path) if m.split(".")[0] == "dashboard"
        )
        for path in sorted((ROOT / "logging_pipeline").rglob("*.py"))
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_loading_the_pipeline_and_the_postgres_sink_loads_no_dashboard_module() -> None:
    code = (
        "import sys, arbdash.logging_pipeline.pipeline, arbdash.logging_pipeline.postgres.wiring,"
        " arbdash.logging_pipeline.postgres.sink;"
        " print(sorted(m for m in sys.modules if m.startswith('arbdash.dashboard')))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"

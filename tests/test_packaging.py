"""One import name (issue 13 item 4): installed, the project is the package ``arbdash`` and nothing else; the
repository's top-level folders (``bot``, ``tools``, ``helpers`` …) become its subpackages, so they never collide
with other distributions of those names in a user's site-packages."""

from __future__ import annotations

import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("alerts", "bot", "control", "dashboard", "helpers", "logging_pipeline", "sql", "tools")


def _setuptools() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]


def test_every_package_folder_is_listed_under_arbdash() -> None:
    """A new subpackage that is not listed in ``pyproject.toml`` would be missing from the installed wheel."""
    found = {"arbdash"} | {
        "arbdash." + ".".join(init.parent.relative_to(ROOT).parts)
        for folder in FOLDERS
        for init in (ROOT / folder).rglob("__init__.py")
    }
    assert set(_setuptools()["packages"]) == found
    assert _setuptools()["package-dir"] == {"arbdash": "arbdash"} | {f"arbdash.{f}": f for f in FOLDERS}


def test_the_wheel_holds_only_arbdash_with_its_data(tmp_path: Path) -> None:
    """Build the wheel as ``pip`` would and look inside: one top-level package, the market data, the
    migrations, the web page's static files; the console scripts point into ``arbdash``."""
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    (wheel,) = tmp_path.glob("arbdash-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert tops == {"arbdash"}
    assert "arbdash/bot/data/risk/maintenance_tiers.csv" in names
    assert any(n.startswith("arbdash/bot/data/market/") and n.endswith(".csv") for n in names)
    assert "arbdash/sql/001_dashboard.sql" in names
    assert {"arbdash/control/static/index.html", "arbdash/control/static/app.js"} <= set(names)
    (entry,) = [n for n in names if n.endswith("entry_points.txt")]
    scripts = zipfile.ZipFile(wheel).read(entry).decode()
    assert (
        "runbot = arbdash.tools.entry:runbot" in scripts
        and "arbtail = arbdash.tools.entry:arbtail" in scripts
    )

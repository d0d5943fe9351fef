"""A real browser for the web page tests: Debian's ``chromium`` driven by Playwright for Python (async API).

``require_browser()`` finds both; when either is missing the test is skipped with the reason — except with
``ARBDASH_REQUIRE_BROWSER=1`` (CI sets it), where a missing browser is a failure, so the tests never silently
vanish (as ``pg_fixtures`` does for PostgreSQL). Playwright's own browser download (``playwright install``) is
never used: the system chromium is launched by path, headless, with ``--no-sandbox`` when running as root.

``browser_page()`` yields a ``Page`` (1280×800) whose console errors and page errors are collected in
``page.problems`` (a list of strings) so a test can assert the page ran cleanly; ``arbtail_serve(log)`` runs
``arbtail serve LOG --port 0`` as a process and yields the address it prints.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest

VIEWPORT = {"width": 1280, "height": 800}


def require_browser() -> str:
    """The chromium executable's path; skips the test (fails it under ``ARBDASH_REQUIRE_BROWSER=1``) when
    chromium or the ``playwright`` package is missing."""
    problem = None
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        problem = "no chromium on PATH (apt-get install chromium)"
    else:
        try:
            import playwright.async_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is not installed (pip install -e '.[test]')"
    if problem is None:
        assert path is not None
        return path
    if os.environ.get("ARBDASH_REQUIRE_BROWSER") == "1":
        pytest.fail(f"browser tests required (ARBDASH_REQUIRE_BROWSER=1) but {problem}")
    pytest.skip(problem)


@asynccontextmanager
async def browser_page(**context_options: Any) -> AsyncIterator[Any]:
    """A fresh headless chromium page (own context: no cookies or storage shared between tests)."""
    path = require_browser()
    from playwright.async_api import async_playwright

    args = ["--no-sandbox"] if hasattr(os, "geteuid") and os.geteuid() == 0 else []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=path, args=args, headless=True)
        try:
            context = await browser.new_context(viewport=VIEWPORT, **context_options)
            page = await context.new_page()
            problems: list[str] = []
            page.on("pageerror", lambda exc: problems.append(f"pageerror: {exc}"))
            page.on(
                "console",
                lambda msg: (
                    problems.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None
                ),
            )
            page.problems = problems
            yield page
        finally:
            await browser.close()


@contextmanager
def arbtail_serve(log: Path, *, cwd: Path | None = None) -> Iterator[str]:
    """``arbtail serve LOG --port 0`` as a process (without ``ARBDASH_TOKEN``: loopback, open reads); yields the
    ``http://127.0.0.1:PORT`` it prints on its first stderr line, and kills it on the way out."""
    env = {k: v for k, v in os.environ.items() if k != "ARBDASH_TOKEN"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "arbdash.tools.arbtail", "serve", str(log), "--port", "0"],
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        url = re.fullmatch(r"arbtail serve: (http://127\.0\.0\.1:\d+) \(Ctrl-C stops\)\n", line)
        assert url, f"arbtail serve did not print its address: {line!r}"
        # keep reading what it says next, so a full pipe can never hold the server
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        yield url.group(1)
    finally:
        proc.kill()
        proc.wait(timeout=10)

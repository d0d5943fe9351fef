"""A real browser for the web page tests: Debian's ``chromium`` driven by Playwright for Python (async API).

``require_browser()`` finds both; when either is missing the test is skipped with the reason — except with
``ARBDASH_REQUIRE_BROWSER=1`` (CI sets it), where a missing browser is a failure, so the tests never silently
vanish (as ``pg_fixtures`` does for PostgreSQL). Playwright's own browser download (``playwright install``) is
never used: the system chromium is launched by path, headless, with ``--no-sandbox`` when running as root.

``browser_page()`` yields a ``Page`` (1280×800) whose console errors and page errors are collected in
``page.problems`` (a list of strings) so a test can assert the page ran cleanly.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
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

"""Open a local page in headless Chromium (Debian's package, which `make test` installs) with the
network cut: every request that is not ``file:`` or ``data:`` is recorded and refused, and
so are console errors and uncaught exceptions, so a test can fail on either."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

LOCAL = ("file:", "data:", "blob:", "about:")


def chromium() -> str:
    for name in ("chromium", "chromium-browser"):
        if path := shutil.which(name):
            return path
    pytest.fail("no chromium on PATH: `make test` installs Debian's package (apt-get install chromium)")


@dataclass
class Visit:
    outside: list[str] = field(default_factory=list)  # requests refused: not file: or data:
    errors: list[str] = field(default_factory=list)  # console errors and uncaught exceptions
    results: dict = field(default_factory=dict)  # what each script passed to `open_page` returned


def open_page(path: Path, screenshot: Path | None = None, scripts: dict[str, str] | None = None,
              wait_for: str | None = None) -> Visit:
    """Load ``path``; evaluate each of ``scripts`` (name -> JavaScript expression) in the page,
    after ``wait_for`` (a JavaScript condition) holds if given; optionally take a full-page screenshot."""
    from playwright.sync_api import sync_playwright

    visit = Visit()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})

            def route(r):
                if r.request.url.startswith(LOCAL):
                    r.continue_()
                else:
                    visit.outside.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.on("console", lambda m: m.type == "error" and visit.errors.append(m.text))
            page.on("pageerror", lambda exc: visit.errors.append(str(exc)))
            page.goto(Path(path).resolve().as_uri(), wait_until="load")
            if wait_for:
                page.wait_for_function(wait_for, timeout=30_000)
            for name, script in (scripts or {}).items():
                visit.results[name] = page.evaluate(script)
            if screenshot is not None:
                page.screenshot(path=str(screenshot), full_page=True)
        finally:
            browser.close()
    return visit


def blank(png: Path) -> bool:
    """A screenshot of one colour (nothing rendered)."""
    from PIL import Image

    with Image.open(png) as im:
        lo, hi = im.convert("L").getextrema()
    return lo == hi

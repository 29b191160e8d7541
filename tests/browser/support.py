"""Helpers for the browser tests (tests/browser): where Chromium is, and screenshots.

Chromium is Debian's (`apt-get install -y chromium`), not a Playwright download:
`playwright install` needs a host this machine cannot reach. DIALER_CHROMIUM points the tests at
another executable.

Screenshots go to docs/screenshots/NAME.png when DIALER_SCREENSHOTS=1 (to refresh the
pictures the docs show), else to the session's pytest tmp dir, so an ordinary run never
touches the work tree.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from playwright.sync_api import Page

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCS_SCREENSHOTS = REPO_ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("DIALER_CHROMIUM", "/usr/bin/chromium")
# --lang: the centre's computers run in Vietnamese, so date inputs read dd/mm/yyyy.
LAUNCH_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--lang=vi-VN"]

# Set by tests/browser/conftest.py to a directory under pytest's basetemp.
_fallback_dir: Path | None = None
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def chromium_path() -> str | None:
    """The Chromium executable to launch, or None when there is none."""
    if os.sep in CHROMIUM:
        return CHROMIUM if os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK) else None
    return shutil.which(CHROMIUM)


def unavailable_reason() -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return (
            f"browser tests skipped: playwright is not importable ({exc}; pip install -e '.[dev]')"
        )
    if chromium_path() is None:
        return (
            f"browser tests skipped: {CHROMIUM} not found "
            "(apt-get install -y chromium, or set DIALER_CHROMIUM)"
        )
    return None


def screenshots_to_docs() -> bool:
    return os.environ.get("DIALER_SCREENSHOTS") == "1"


def screenshot(page: Page, name: str, *, full_page: bool = False) -> Path:
    """Save the page's viewport (or the full page) as NAME.png and return the file's path.

    Into docs/screenshots/ when DIALER_SCREENSHOTS=1, else into pytest's tmp dir.
    NAME is a plain file name without the extension: letters, digits, '.', '_' and '-'.
    """
    if not _NAME.fullmatch(name) or name.endswith(".png"):
        raise ValueError(f"screenshot name {name!r}: use letters, digits, '.', '_', '-', no .png")
    if screenshots_to_docs():
        directory = DOCS_SCREENSHOTS
    else:
        directory = _fallback_dir or Path(tempfile.mkdtemp(prefix="dialer-screenshots-"))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.png"
    page.screenshot(path=str(path), full_page=full_page)
    return path

"""Headless Chromium for page tests (Debian's chromium, driven by Playwright)."""
from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]


def require_chromium() -> None:
    """Skip without Chromium on a developer machine; fail in CI, where it must be there."""
    if os.path.exists(CHROMIUM):
        return
    message = "Chromium is not installed (apt-get install chromium)"
    if os.environ.get("CI_REQUIRE_ALL"):
        pytest.fail(message)
    pytest.skip(message)


def launch(playwright: object, *extra_flags: str) -> object:
    """A headless Chromium with audio autoplay allowed."""
    return playwright.chromium.launch(executable_path=CHROMIUM, args=[*FLAGS, *extra_flags])

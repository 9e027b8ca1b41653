"""Headless Chromium (Debian's, driven by Playwright) against a live Daphne server."""
from __future__ import annotations

import multiprocessing
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from channels.testing import ChannelsLiveServerTestCase

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--no-first-run", "--disable-sync",
    "--autoplay-policy=no-user-gesture-required",
]
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs a loop


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


def new_page(browser: object) -> tuple[object, list[str]]:
    """A page of ``browser`` and the list its uncaught script errors are collected in."""
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return page, errors


class LiveServerTestCase(ChannelsLiveServerTestCase):
    """A live Daphne in a freshly *spawned* process, configured by ``server_env``.

    Spawned, not forked: the test process has loaded ONNX Runtime (Piper), which does not
    survive a fork. The child reads its settings anew, so overrides go through ``server_env``.
    """

    server_env: dict[str, str] = {}

    @classmethod
    def setUpClass(cls) -> None:
        multiprocessing.set_start_method("spawn", force=True)
        cls._saved_env = {name: os.environ.get(name) for name in cls.server_env}
        os.environ.update(cls.server_env)
        super().setUpClass()

    @classmethod
    def tearDownClass(cls) -> None:
        super().tearDownClass()
        for name, value in cls._saved_env.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

    def setUp(self) -> None:
        require_chromium()

    @contextmanager
    def browse(self, path: str, *extra_flags: str,
               viewport: dict | None = None) -> Iterator[tuple[object, list[str]]]:
        """A fresh headless Chromium on the live server's ``path``: the page and the list of
        its uncaught script errors. The browser closes when the block ends."""
        from playwright.sync_api import sync_playwright

        with sync_playwright() as playwright:
            browser = launch(playwright, *extra_flags)
            try:
                page, errors = new_page(browser)
                if viewport:
                    page.set_viewport_size(viewport)
                page.goto(f"{self.live_server_url}{path}")
                yield page, errors
            finally:
                browser.close()


# Installed by a test before it starts a stream: logs each place the caption line marks,
# as [segment index, word index, the word shown marked], in order.
WATCH_CAPTIONS = """() => {
  const log = (window.__captions = []);
  const line = document.getElementById("caption");
  new MutationObserver(() => {
    const [segment, word] = [Number(line.dataset.segment), Number(line.dataset.word)];
    const last = log[log.length - 1];
    if (word >= 0 && (!last || last[0] !== segment || last[1] !== word))
      log.push([segment, word, line.querySelector(".word.now")?.textContent ?? null]);
  }).observe(line, { attributes: true, attributeFilter: ["data-word", "data-segment"] });
}"""


def assert_captions_followed(page: object, session_id: str) -> None:
    """The caption line marked the session's words in the order they are said, each as the
    word its segment's timings name, through every segment to the last word."""
    from streaming.models import SegmentRecord

    marks = [tuple(mark) for mark in page.evaluate("() => window.__captions")]
    segments = list(SegmentRecord.objects.filter(session_id=session_id).order_by("index"))
    assert marks == sorted(set(marks)), marks  # forward only, each place once
    assert {segment for segment, _, _ in marks} == {s.index for s in segments}, marks
    for segment, word, shown in marks:
        assert shown == segments[segment].words[word][0], (segment, word, shown)
    last = segments[-1]
    assert marks[-1][:2] == (last.index, len(last.words) - 1), marks

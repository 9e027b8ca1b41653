"""The admin's session pages in headless Chromium, logged in as staff: nothing wider than
the window at 1,280 px (the Django test client serves the pages; static files come from
the finders)."""
from __future__ import annotations

import mimetypes
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.contrib.staticfiles import finders
from django.urls import reverse

from streaming.models import SegmentRecord
from tests.browser import launch, require_chromium
from tests.test_admin import make_session

pytestmark = pytest.mark.django_db

ORIGIN = "http://testserver"
WIDE = 1280


def shown(html: bytes, path: str, width: int = WIDE) -> Iterator[object]:
    """A Chromium page ``width`` px wide showing ``html`` as if served at ``path``; static
    files come from the finders, anything else is 404 (pages are fetched before the browser
    starts: its callbacks run in another context, with another database connection)."""
    require_chromium()
    from django.conf import settings
    from playwright.sync_api import sync_playwright

    static = "/" + settings.STATIC_URL.lstrip("/")

    def answer(route: object) -> None:
        url = urlsplit(route.request.url)
        found = url.path.startswith(static) and finders.find(url.path[len(static):])
        if url.path == path:
            route.fulfill(status=200, body=html, content_type="text/html; charset=utf-8")
        elif found:
            kind = mimetypes.guess_type(found)[0] or "application/octet-stream"
            route.fulfill(status=200, body=Path(found).read_bytes(), content_type=kind)
        else:
            route.fulfill(status=404, body="")

    with sync_playwright() as playwright:
        browser = launch(playwright)
        page = browser.new_page(viewport={"width": width, "height": 900})
        page.route("**/*", answer)
        page.goto(ORIGIN + path)
        yield page
        browser.close()


def page_of(admin_client, path: str, width: int = WIDE) -> Iterator[object]:
    """``path`` as the logged-in staff member sees it in a window ``width`` px wide."""
    response = admin_client.get(path)
    assert response.status_code == 200
    return shown(response.content, path, width)


def overflow(page: object) -> dict[str, int]:
    """Elements wider than their box (or than the window), by selector."""
    return page.evaluate("""() => {
        const wide = {};
        const root = document.documentElement;
        if (root.scrollWidth > root.clientWidth) wide["page"] = root.scrollWidth;
        for (const el of document.querySelectorAll("#content table, #content .results,"
                                                   + " #content .inline-group")) {
            const box = el.parentElement.getBoundingClientRect();
            const right = el.getBoundingClientRect().right;
            if (right > box.right + 1 || el.scrollWidth > el.clientWidth + 1)
                wide[(el.id || el.className || el.tagName).toString()] = el.scrollWidth;
        }
        return wide;
    }""")


def test_the_session_page_with_real_offsets_fits_a_1280_px_window(admin_client) -> None:
    session = make_session("voicebot")  # its segments, and a conversation section
    for index in range(3, 16):  # a long session, timings as Piper's 22,050 Hz gives them
        SegmentRecord.objects.create(
            session=session, index=index, text="Streaming speech starts before the text.",
            cut_ms=1000.1234567891 * index, request_ms=1000.2950000000001 * index,
            first_byte_ms=1150.333333333333 * index, end_ms=1650.6666666666667 * index,
            audio_offset_ms=2438.0952380952385 * index, audio_ms=2438.0952380952385,
            bytes=107_520)

    url = reverse("admin:streaming_streamsession_change", args=[session.pk])

    for page in page_of(admin_client, url):
        assert page.locator("#segment_records-group tbody tr").count() >= 16
        assert overflow(page) == {}


def test_the_session_list_fits_a_1280_px_window_without_sideways_scrolling(admin_client) -> None:
    for kind in ("tts", "voicebot", "tts", "voicebot"):
        make_session(kind, segments=False, ttfa=12_345.678, overlap_ms=-10_151.74912,
                     tts_provider="simulated", voice="en-US-Chirp3-HD-Charon")
    make_session("tts", "running", segments=False)

    for page in page_of(admin_client, reverse("admin:streaming_streamsession_changelist")):
        assert page.locator("#result_list tbody tr").count() == 5
        assert overflow(page) == {}


@pytest.mark.parametrize("width", [WIDE, 390])
def test_the_report_page_scrolls_its_tables_not_the_page(admin_client, width: int) -> None:
    make_session(segments=False)
    make_session("voicebot", segments=False)

    for page in page_of(admin_client, reverse("admin:streaming_streamsession_report"), width):
        assert page.locator("table.report-table").count() == 3
        assert page.evaluate("document.documentElement.scrollWidth") <= width


def test_the_conversation_list_fits_a_1280_px_window(admin_client) -> None:
    for _ in range(3):
        make_session("voicebot", segments=False)

    for page in page_of(admin_client, reverse("admin:voicebot_conversation_changelist")):
        assert page.locator("#result_list tbody tr").count() == 3
        assert overflow(page) == {}

"""The site's icon: every page names it, and /favicon.ico finds it (no 404 per page)."""
from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.templatetags.static import static

pytestmark = pytest.mark.django_db

ICON = "favicon.svg"


def test_favicon_ico_redirects_to_the_icon_which_is_an_svg_image(client) -> None:
    response = client.get("/favicon.ico")

    assert response.status_code == 302 and response["Location"] == static(ICON)
    found = finders.find(ICON)
    assert found, "static/favicon.svg is missing"
    assert ET.fromstring(Path(found).read_text()).tag == "{http://www.w3.org/2000/svg}svg"


@pytest.mark.parametrize("path", ["/", "/tts/", "/voicebot/", "/admin/login/", "/admin/",
                                  "/admin/live/", "/admin/streaming/streamsession/"])
def test_site_and_admin_pages_name_the_icon(client, admin_client, path: str) -> None:
    response = (client if path == "/admin/login/" else admin_client).get(path)

    assert response.status_code == 200
    assert (f'<link rel="icon" href="{static(ICON)}" type="image/svg+xml">'
            in response.content.decode())

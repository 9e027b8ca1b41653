"""The live monitor's admin page; its WebSocket consumer and the streams' publisher are in
``streaming.monitor``."""
from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


@staff_member_required
@permission_required("streaming.view_streamsession", raise_exception=True)
def live_monitor(request: HttpRequest) -> HttpResponse:
    """The admin page listing live sessions of every server process."""
    return render(request, "admin/live_monitor.html", {
        "title": "Live sessions", "site_header": "Voicebot administration",
        "has_permission": True,
    })

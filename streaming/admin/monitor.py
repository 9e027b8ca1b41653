"""The live monitor's admin page; its WebSocket consumer and the streams' publisher are in
``streaming.monitor``."""
from __future__ import annotations

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import permission_required
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from streaming.models import StreamSession


@staff_member_required
@permission_required("streaming.view_streamsession", raise_exception=True)
def live_monitor(request: HttpRequest) -> HttpResponse:
    """The admin page listing live sessions of every server process, in the admin's layout
    (its header, navigation and breadcrumbs)."""
    request.current_app = admin.site.name
    return TemplateResponse(request, "admin/live_monitor.html", {
        **admin.site.each_context(request),
        "title": "Live sessions",
        "opts": StreamSession._meta,
    })

"""The admin's latency report page: percentiles per provider, voice and day over a period,
with a chart, each row linked to its sessions in the changelist."""
from __future__ import annotations

import datetime as dt
from urllib.parse import urlencode

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.safestring import mark_safe

from streaming.models import StreamSession
from streaming.reports import (
    METHOD,
    METRIC_LABELS,
    PERCENTILES,
    day_start,
    default_period,
    in_period,
    latency_reports,
    metrics,
    ttfa_chart_svg,
)

TEMPLATE = "admin/streaming/streamsession/latency_report.html"


class LatencyReportForm(forms.Form):
    """The report's period (whole days, both included) and kind."""

    since = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(widget=forms.DateInput(attrs={"type": "date"}))
    kind = forms.ChoiceField(choices=[("", "all kinds"), *StreamSession.Kind.choices],
                             required=False)
    include_replays = forms.BooleanField(
        required=False, label="Include replays",
        help_text="Sessions stored by replay_session(s) are not counted unless ticked.")

    MAX_DAYS = 366

    def clean(self) -> dict:
        """The period must not end before it starts, nor last more than a year (the chart
        draws every day; 9999-12-31 also has no next day to end the query on)."""
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("The period ends before it starts.")
        if since and until and (until - since).days >= self.MAX_DAYS:
            raise forms.ValidationError(f"The period may last {self.MAX_DAYS} days at most.")
        return data


def latency_report_view(model_admin: admin.ModelAdmin, request: HttpRequest) -> HttpResponse:
    """The report page of ``model_admin``'s sessions (those its user may see)."""
    if not model_admin.has_view_permission(request):
        raise PermissionDenied
    site = model_admin.admin_site
    since, until = default_period()
    data = request.GET if {"since", "until"} & set(request.GET) else {
        "since": since.isoformat(), "until": until.isoformat()}
    form = LatencyReportForm(data)
    context = {
        **site.each_context(request),
        "opts": model_admin.model._meta,
        "title": "Latency report",
        "form": form,
        "method": METHOD,
        "percentiles": PERCENTILES,
    }
    if form.is_valid():
        since, until = form.cleaned_data["since"], form.cleaned_data["until"]
        kind = form.cleaned_data["kind"] or None
        replays = form.cleaned_data["include_replays"]
        qs = in_period(model_admin.get_queryset(request), since, until, kind,
                       include_replays=replays)
        reports = latency_reports(qs)
        changelist = reverse("admin:streaming_streamsession_changelist", current_app=site.name)
        context.update(
            since=since, until=until, kind=kind, include_replays=replays,
            total=sum(row["sessions"] for row in reports["provider"]),
            tables=[
                (heading, column, [report_row(row, group_by, changelist, since, until, kind,
                                              replays) for row in reports[group_by]])
                for heading, column, group_by in (
                    ("By TTS provider", "TTS provider", "provider"),
                    ("By voice", "Voice", "voice"), ("By day", "Day", "day"))
            ],
            chart=mark_safe(ttfa_chart_svg(reports["day"], since, until)),
        )
    request.current_app = site.name
    return TemplateResponse(request, TEMPLATE, context)


def report_row(row: dict, group_by: str, changelist: str, since: dt.date, until: dt.date,
               kind: str | None, include_replays: bool = False) -> dict:
    """A report row for the template, with a link to the sessions it counted in the
    changelist."""
    params: dict[str, str] = {}
    if group_by == "day" and row.get("day"):
        since = until = row["day"]
    params["created_at__gte"] = str(day_start(since))
    params["created_at__lt"] = str(day_start(until + dt.timedelta(days=1)))
    if group_by in ("provider", "voice"):
        params["tts_provider"] = row["provider"]
    if group_by == "voice":
        params["voice__exact"] = row["voice"]
    if kind:
        params["kind__exact"] = kind
    if not include_replays:
        params["replay"] = "no"  # ReplayFilter
    cells = [{"label": METRIC_LABELS[m], "n": row[m]["count"],
              "values": [row[m][f"p{p}"] for p in PERCENTILES]} for m in metrics()]
    link = f"{changelist}?{urlencode(params)}"
    # A metric none of the group's sessions has (STT for spoken text) is left out; TTFA stays.
    shown = [cell for cell in cells if cell["n"]] or cells[:1]
    return {"group": row["group"], "sessions": row["sessions"], "cells": shown, "link": link}

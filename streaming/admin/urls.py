"""Admin pages outside the ModelAdmins, mounted under ``admin/`` before the admin site."""
from django.urls import path

from streaming.admin.monitor import live_monitor

urlpatterns = [
    path("live/", live_monitor, name="live-monitor"),
]

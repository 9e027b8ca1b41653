"""The streaming admin: sessions with their segments, the latency report and the audio
view. Importing the package (the admin's autodiscovery does) registers the ModelAdmins.

``base`` holds what every record admin shares (also the voicebot's), ``filters`` and
``paginator`` the changelist's parts, ``sessions`` the session admin, ``reports`` the
latency report page, ``monitor`` the live monitor's page (routed by ``urls``).
"""
from django.contrib import admin

from streaming.admin.base import RecordAdmin
from streaming.admin.sessions import StreamSessionAdmin
from streaming.models import StreamSession

admin.site.register(StreamSession, StreamSessionAdmin)

__all__ = ["RecordAdmin", "StreamSessionAdmin"]

"""HTTP URL routes."""
from django.contrib import admin
from django.urls import include, path
from django.views.generic import TemplateView

from streaming.readiness import healthz
from tts.views import voices_api
from voicebot_site.views import favicon

urlpatterns = [
    path("", TemplateView.as_view(template_name="index.html"), name="index"),
    path("tts/", include("tts.urls")),
    path("voicebot/", include("voicebot.urls")),
    path("api/voices", voices_api, name="voices"),
    path("healthz", healthz, name="healthz"),
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", include("streaming.admin.urls")),  # the live monitor
    path("admin/", admin.site.urls),
]

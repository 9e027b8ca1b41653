"""HTTP routes of the TTS page."""
from django.urls import path

from tts.views import tts_page

app_name = "tts"
urlpatterns = [
    path("", tts_page, name="page"),
    path("interface", tts_page, name="interface"),
]

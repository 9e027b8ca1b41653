"""HTTP routes of the voicebot page."""
from django.urls import path

from voicebot.views import voicebot_page

app_name = "voicebot"
urlpatterns = [
    path("", voicebot_page, name="page"),
    path("interface", voicebot_page, name="interface"),
]

"""WebSocket routes of the voicebot endpoint."""
from django.urls import path

from voicebot.consumers import VoicebotConsumer

websocket_urlpatterns = [
    path("api/voicebot/streaming", VoicebotConsumer.as_asgi()),
]

"""WebSocket routes of the voicebot endpoints (the page's JSON protocol, and plain PCM)."""
from django.urls import path

from voicebot.consumers import VoicebotConsumer
from voicebot.pcm import PcmVoicebotConsumer

websocket_urlpatterns = [
    path("api/voicebot/streaming", VoicebotConsumer.as_asgi()),
    path("api/voicebot/pcm", PcmVoicebotConsumer.as_asgi()),
]

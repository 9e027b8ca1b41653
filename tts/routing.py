"""WebSocket routes of the TTS endpoint."""
from django.urls import path

from tts.consumers import TTSConsumer

websocket_urlpatterns = [
    path("api/tts/ws", TTSConsumer.as_asgi()),
    path("api/tts/streaming", TTSConsumer.as_asgi()),
]

"""WebSocket URL routes of every app."""
from channels.auth import AuthMiddlewareStack
from django.urls import path

from streaming.monitor import MonitorConsumer
from tts.routing import websocket_urlpatterns as tts_routes
from voicebot.routing import websocket_urlpatterns as voicebot_routes

websocket_urlpatterns = [
    *tts_routes,
    *voicebot_routes,
    path("api/monitor/ws", AuthMiddlewareStack(MonitorConsumer.as_asgi())),
]

"""WebSocket URL routes of every app."""
from tts.routing import websocket_urlpatterns as tts_routes

websocket_urlpatterns = [*tts_routes]

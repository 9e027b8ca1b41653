"""ASGI entry point: HTTP goes to Django, WebSockets to the streaming consumers.

Importing it starts the server process's model loading (``streaming.readiness``), so the
first session does not wait for a voice to load; ``/healthz`` says when it is done.
"""
import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "voicebot_site.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from streaming import processes, readiness  # noqa: E402
from streaming.access import StreamAccess  # noqa: E402
from voicebot_site.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        # The origin, login and connection checks of streaming.access; only the monitor
        # (and every endpoint when login is required) reads the user: its own stack.
        "websocket": StreamAccess(URLRouter(websocket_urlpatterns)),
    }
)
readiness.warm_up()
processes.start_heartbeat()

"""Test settings: the real settings (so DATABASE_URL / REDIS_URL apply) plus test-only keys."""
import os
import tempfile
from pathlib import Path

os.environ.setdefault("SECRET_KEY", "test-only-secret-key")

from voicebot_site.settings import *  # noqa: F403
from voicebot_site.settings import BASE_DIR, DATABASES

# A file (not in-memory) SQLite test database, so a live Daphne process can share it.
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test-db.sqlite3")}
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Simulated providers fast enough for tests; a failing one for the error path.
STREAMING_PROVIDERS["tts"]["simulated"]["OPTIONS"] = {  # noqa: F405
    "first_byte_ms": 5, "realtime_factor": 20, "ms_per_char": 20,
}
STREAMING_PROVIDERS["tts"]["failing"] = {  # noqa: F405
    "BACKEND": "streaming.simulated.SimulatedTTS",
    "HIDDEN": True,
    "OPTIONS": {"first_byte_ms": 5, "realtime_factor": 20, "fail_after_frames": 3},
}

# Static files come from the finders in tests; WhiteNoise serves collected files in production.
MIDDLEWARE = [m for m in MIDDLEWARE if "whitenoise" not in m]  # noqa: F405
STREAMING_PROVIDERS["llm"]["simulated"]["OPTIONS"] = {  # noqa: F405
    "first_token_ms": 5, "tokens_per_s": 100, "words": 60,
}
STREAMING_PROVIDERS["llm"]["failing"] = {  # noqa: F405
    "BACKEND": "streaming.simulated.SimulatedLLM",
    "HIDDEN": True,
    "OPTIONS": {"first_token_ms": 5, "tokens_per_s": 100, "fail_after_tokens": 25},
}

# The deterministic rule-based responder answers unless a test asks for the local model.
STREAMING_DEFAULTS = {**STREAMING_DEFAULTS,  # noqa: F405
                      "llm": os.environ.get("LLM_PROVIDER", "rules")}

# Stored audio goes to a throwaway folder.
MEDIA_ROOT = Path(tempfile.mkdtemp(prefix="voicebot-media-"))

# No fallback unless a test asks for one: failure paths must be seen as failures. The suite
# starts hundreds of streams a minute from one address: the rate limit is off unless a test
# turns it on.
STREAMING = {**STREAMING, "TTS_FALLBACK": [], "STREAMS_PER_MINUTE": 0,  # noqa: F405
             "HIDDEN_PROVIDERS": True}  # the simulated and failing providers

# The pytest process does not beat (its rows are this process's, and a thread writing
# between tests would race their flushes); the Daphne processes of the tests do
# (tests.live_server.server_env).
if not os.environ.get("STREAMING_HEARTBEAT_S"):
    STREAMING["HEARTBEAT_S"] = 0

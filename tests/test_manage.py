"""``manage.py`` itself: what a command prints when the settings cannot load."""
from __future__ import annotations

import os
import subprocess
import sys

from tests.live_server import PROJECT_DIR


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    """``manage.py args`` with the project's settings, no DEBUG and no SECRET_KEY, plus
    ``env``."""
    base = {k: v for k, v in os.environ.items()
            if k not in ("DEBUG", "SECRET_KEY", "DJANGO_SETTINGS_MODULE")}
    return subprocess.run([sys.executable, "manage.py", *args], cwd=PROJECT_DIR,
                          env={**base, **env}, capture_output=True, text=True, timeout=120)


def test_without_secret_key_or_debug_a_command_says_so_in_one_line() -> None:
    done = manage("check")

    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "SECRET_KEY" in lines[0] and "DEBUG=1" in lines[0], lines


def test_a_bad_setting_is_one_line_too_and_a_good_environment_runs() -> None:
    bad = manage("check", SECRET_KEY="x" * 50, LOCAL_SCHEDULING="random")
    good = manage("check", SECRET_KEY="x" * 50)

    assert bad.returncode == 1 and len(bad.stderr.strip().splitlines()) == 1
    assert "LOCAL_SCHEDULING" in bad.stderr
    assert good.returncode == 0, good.stderr


LOG_ONCE = """
import django, logging
django.setup()
logging.getLogger("django.channels.server").info("HTTP GET /page 200")
logging.getLogger("django.request").warning("Not Found: /nowhere")
logging.getLogger("streaming.monitor").warning("a warning of ours")
"""


def test_with_debug_each_log_record_is_printed_once() -> None:
    """The dev server's access log (Daphne's runserver logs to django.channels.server) and
    Django's own records printed twice: through Django's console handler and the root's."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run([sys.executable, "-c", LOG_ONCE], cwd=PROJECT_DIR, timeout=120,
                          env={**env, "DEBUG": "1", "DJANGO_SETTINGS_MODULE":
                               "voicebot_site.settings"}, capture_output=True, text=True)

    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    for message in ("HTTP GET /page 200", "Not Found: /nowhere", "a warning of ours"):
        assert lines.count(message) == 1, done.stderr

"""Live-server helpers shared by the tests: a free loopback port, a Daphne process on it."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import IO

from streaming.management.commands.loadtest import free_port

__all__ = ["free_port", "server_env", "start_daphne", "wait_for_port"]

PROJECT_DIR = Path(__file__).resolve().parent.parent


def start_daphne(port: int, env: dict[str, str],
                 stderr: int | IO = subprocess.PIPE) -> subprocess.Popen:
    """This project's ASGI application in a Daphne process on ``127.0.0.1:port``."""
    daphne = Path(sys.executable).with_name("daphne")
    return subprocess.Popen(
        [str(daphne), "-b", "127.0.0.1", "-p", str(port), "voicebot_site.asgi:application"],
        env=env, cwd=PROJECT_DIR, stdout=subprocess.DEVNULL, stderr=stderr)


async def wait_for_port(port: int) -> None:
    """Return once something accepts TCP connections on ``127.0.0.1:port``."""
    for _ in range(200):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise AssertionError(f"no server on port {port}")


def server_env(**extra: str) -> dict[str, str]:
    """The environment of a Daphne process that shares this test run's database (SQLite
    file or PostgreSQL), with the test settings and ``extra`` variables."""
    from django.db import connection

    db = connection.settings_dict
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings",
           "STREAMING_HEARTBEAT_S": "30", **extra}
    if db["ENGINE"].endswith("sqlite3"):
        env.pop("DATABASE_URL", None)
        env["SQLITE_PATH"] = str(db["NAME"])
    else:
        auth = f"{db['USER']}:{db['PASSWORD']}" if db["PASSWORD"] else db["USER"]
        env["DATABASE_URL"] = f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return env

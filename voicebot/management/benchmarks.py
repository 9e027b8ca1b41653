"""What the voicebot's benchmark commands share: a server of this project to measure, and
writing the result."""
from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from django.core.management.base import CommandError

from streaming.management.commands.loadtest import ServerProcess
from voicebot.voicebench import server_env


@contextmanager
def offline_server(say: Callable[[str], None]) -> Iterator[ServerProcess]:
    """A Daphne server of this project on the embedded offline engines (local LLM,
    Whisper, Piper; throwaway SQLite), ready (its models loaded), stopped afterwards."""
    with tempfile.TemporaryDirectory(prefix="voicebench-") as tmp:
        server = ServerProcess(server_env(Path(tmp)), Path(tmp))
        try:
            server.start()  # CommandError when it does not get ready
            say(f"server ready at {server.url}")
            yield server
        except subprocess.TimeoutExpired as exc:
            raise CommandError(f"{exc}\n{server.log()}") from exc
        finally:
            server.stop()


def write_result(path: str | Path, result: dict) -> Path:
    """Write ``result`` as JSON to ``path`` (``CommandError`` if it cannot be written)."""
    path = Path(path)
    try:
        path.write_text(json.dumps(result, indent=1), encoding="utf-8")
    except OSError as exc:
        raise CommandError(f"Cannot write {path}: {exc}") from exc
    return path

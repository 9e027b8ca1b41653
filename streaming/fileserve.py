"""Serving a stored file over HTTP with single byte ranges (RFC 9110), so players can seek.

Django's ``FileResponse`` ignores ``Range``; an audio element that cannot seek replays from
the start. Used by the admin's session audio view; nothing here is specific to audio.
"""
from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator
from typing import IO

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db.models.fields.files import FieldFile
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

CHUNK = 64 * 1024
RANGE_RE = re.compile(r"bytes=(\d*)-(\d*)")


class UnsatisfiableRange(ValueError):
    """A byte range outside the file."""


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``(start, end)`` (inclusive) of a single ``bytes=`` range, or None to send it all.

    Raises :class:`UnsatisfiableRange` for a range starting past the end.
    """
    match = RANGE_RE.fullmatch(header.strip())
    if not match or not (match[1] or match[2]):
        return None
    if match[1]:
        start = int(match[1])
        if match[2] and int(match[2]) < start:
            return None  # invalid: ignored, as RFC 9110 says
        end = min(int(match[2]), size - 1) if match[2] else size - 1
    else:
        suffix = int(match[2])
        if suffix == 0:
            raise UnsatisfiableRange(header)
        start, end = max(0, size - suffix), size - 1
    if start >= size:
        raise UnsatisfiableRange(header)
    return start, end


def _read(handle: IO[bytes], start: int, length: int) -> Iterator[bytes]:
    """The bytes of a range, in chunks; closes the file."""
    try:
        handle.seek(start)
        while length > 0 and (data := handle.read(min(CHUNK, length))):
            length -= len(data)
            yield data
    finally:
        handle.close()


async def _aread(handle: IO[bytes], start: int, length: int) -> AsyncIterator[bytes]:
    """The same, for ASGI: the reads run in a thread, the file is never loaded whole."""
    try:
        await sync_to_async(handle.seek)(start)
        while length > 0 and (data := await sync_to_async(handle.read)(min(CHUNK, length))):
            length -= len(data)
            yield data
    finally:
        await sync_to_async(handle.close)()


def serve_file(request: HttpRequest, fieldfile: FieldFile, *, filename: str,
               content_type: str, attachment: bool = False) -> HttpResponse:
    """Stream a stored file, honouring a single ``Range`` (so players can seek)."""
    storage, name = fieldfile.storage, fieldfile.name
    try:
        size = storage.size(name)
        handle = storage.open(name, "rb")
    except OSError as exc:
        raise Http404("The file is missing from storage.") from exc
    try:
        byte_range = parse_range(request.headers.get("Range", ""), size)
    except UnsatisfiableRange:
        handle.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{size}"
        return response
    start, end = byte_range or (0, size - 1)
    length = max(0, end - start + 1)
    reader = _aread if isinstance(request, ASGIRequest) else _read
    response = StreamingHttpResponse(reader(handle, start, length),
                                     status=206 if byte_range else 200,
                                     content_type=content_type)
    if byte_range:
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
    response["Content-Length"] = str(length)
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = content_disposition_header(attachment, filename)
    response["Cache-Control"] = "private, max-age=300"
    return response

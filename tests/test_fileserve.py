"""The HTTP Range file server: range parsing, and whole, partial and refused responses over
WSGI and ASGI requests."""
from __future__ import annotations

from pathlib import Path

import pytest
from django.core.files.storage import FileSystemStorage
from django.db.models import FileField
from django.db.models.fields.files import FieldFile
from django.http import Http404
from django.test import AsyncRequestFactory, RequestFactory

from streaming.fileserve import CHUNK, UnsatisfiableRange, parse_range, serve_file

DATA = bytes(range(256)) * (CHUNK // 256 * 2 + 3)  # a little over two read chunks


class RecordingStorage(FileSystemStorage):
    """A file system storage that remembers the files it opened."""

    def __init__(self, location: Path) -> None:
        super().__init__(location=location)
        self.handles: list = []

    def _open(self, name: str, mode: str = "rb"):
        handle = super()._open(name, mode)
        self.handles.append(handle)
        return handle


@pytest.fixture
def stored(tmp_path: Path) -> FieldFile:
    """``DATA`` in a file field's storage."""
    (tmp_path / "clip.bin").write_bytes(DATA)
    return FieldFile(None, FileField(storage=RecordingStorage(tmp_path)), "clip.bin")


def serve(request, fieldfile: FieldFile, **kwargs: object):
    return serve_file(request, fieldfile, filename="clip.bin",
                      content_type="application/octet-stream", **kwargs)


def test_parse_range_reads_one_range_and_ignores_what_it_cannot_use() -> None:
    assert parse_range("", 100) is None
    assert parse_range("bytes=", 100) is None
    assert parse_range("items=0-5", 100) is None
    assert parse_range("bytes=0-", 100) == (0, 99)
    assert parse_range(" bytes=0-0 ", 100) == (0, 0)
    assert parse_range("bytes=90-200", 100) == (90, 99)  # clipped to the end
    assert parse_range("bytes=-10", 100) == (90, 99)  # the last 10 bytes
    assert parse_range("bytes=-500", 100) == (0, 99)
    assert parse_range("bytes=5-1", 100) is None  # invalid: the whole file
    assert parse_range("bytes=0-1,5-6", 100) is None  # several ranges: the whole file


@pytest.mark.parametrize("header", ["bytes=100-", "bytes=150-160", "bytes=-0"])
def test_parse_range_refuses_ranges_outside_the_file(header: str) -> None:
    with pytest.raises(UnsatisfiableRange):
        parse_range(header, 100)


def test_a_plain_request_gets_the_whole_file_and_the_file_is_closed(stored) -> None:
    response = serve(RequestFactory().get("/"), stored)

    assert response.status_code == 200
    assert response["Content-Length"] == str(len(DATA))
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Disposition"] == 'inline; filename="clip.bin"'
    assert "Content-Range" not in response
    assert b"".join(response.streaming_content) == DATA
    assert all(handle.closed for handle in stored.storage.handles)


def test_a_range_gets_206_with_exactly_those_bytes(stored) -> None:
    start, end = CHUNK - 10, 2 * CHUNK + 5  # across read chunks
    response = serve(RequestFactory().get("/", headers={"range": f"bytes={start}-{end}"}),
                     stored)

    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {start}-{end}/{len(DATA)}"
    assert response["Content-Length"] == str(end - start + 1)
    assert b"".join(response.streaming_content) == DATA[start : end + 1]


def test_a_range_past_the_end_gets_416_and_the_file_is_closed(stored) -> None:
    response = serve(RequestFactory().get("/", headers={"range": f"bytes={len(DATA)}-"}),
                     stored)

    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{len(DATA)}"
    assert all(handle.closed for handle in stored.storage.handles)


def test_attachment_asks_the_browser_to_download(stored) -> None:
    response = serve(RequestFactory().get("/"), stored, attachment=True)
    assert response["Content-Disposition"] == 'attachment; filename="clip.bin"'


def test_a_file_missing_from_storage_is_404(stored, tmp_path: Path) -> None:
    (tmp_path / "clip.bin").unlink()
    with pytest.raises(Http404):
        serve(RequestFactory().get("/"), stored)


async def test_an_asgi_request_is_streamed_asynchronously(stored) -> None:
    request = AsyncRequestFactory().get("/", headers={"range": "bytes=-70000"})

    response = serve(request, stored)
    body = b"".join([chunk async for chunk in response.streaming_content])

    assert response.is_async and response.status_code == 206
    assert body == DATA[-70000:]
    assert all(handle.closed for handle in stored.storage.handles)

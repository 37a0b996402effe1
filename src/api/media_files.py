"""Serving an event's files: the stored path checked to stay inside the media directory, ETag
and 304, and single byte ranges (RFC 9110 §14) for the clips.

No path is built from the request: the route resolves the event id to the path the camera
worker stored, and `inside` refuses any that leaves the media directory (an absolute path,
`..`, a symbolic link pointing out)."""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from fastapi import Request, Response
from fastapi.responses import JSONResponse, StreamingResponse

from api.errors import error_body
from vigie.errors import NotFoundError

log = logging.getLogger(__name__)

CHUNK = 64 * 1024
# The files of an event never change once written: a day in the browser's private cache.
CACHE_CONTROL = "private, max-age=86400"
_RANGE = re.compile(r"^bytes=(\d{0,18})-(\d{0,18})$")


def inside(media_dir: Path, stored: str | None) -> Path | None:
    """The stored relative path under media_dir, or None when it is missing, not a file, or
    leaves the directory (logged: a row that points out is a bug or tampering)."""
    if not stored:
        return None
    root = media_dir.resolve()
    try:
        path = (root / stored).resolve()
    except (OSError, ValueError):
        log.warning("chemin de média illisible ignoré")
        return None
    if not path.is_relative_to(root) or path == root:
        log.warning("chemin de média hors du dossier des médias refusé : %r", stored[:200])
        return None
    return path if path.is_file() else None


@dataclass(frozen=True)
class ByteRange:
    """Bytes start..end, both included."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start + 1


class RangeNotSatisfiable(Exception):
    """The Range header is malformed, multiple, or outside the file."""


def parse_range(header: str, size: int) -> ByteRange:
    """The one range of a `Range: bytes=…` header for a file of size bytes."""
    found = _RANGE.match(header.strip())
    if found is None or size == 0:
        raise RangeNotSatisfiable
    first, last = found.group(1), found.group(2)
    if not first and not last:
        raise RangeNotSatisfiable
    if not first:  # suffix: the last N bytes
        n = int(last)
        if n == 0:
            raise RangeNotSatisfiable
        return ByteRange(max(0, size - n), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if start >= size or end < start:
        raise RangeNotSatisfiable
    return ByteRange(start, min(end, size - 1))


def etag_of(stat: os.stat_result) -> str:
    """A strong validator from the file's size and modification time."""
    return f'"{stat.st_size:x}-{stat.st_mtime_ns:x}"'


def _matches(header: str, etag: str) -> bool:
    tags = [t.strip().removeprefix("W/") for t in header.split(",")]
    return "*" in tags or etag in tags


def _read(path: Path, start: int, length: int) -> Iterator[bytes]:
    with path.open("rb") as f:
        f.seek(start)
        left = length
        while left > 0:
            chunk = f.read(min(CHUNK, left))
            if not chunk:
                return
            left -= len(chunk)
            yield chunk


def serve(
    request: Request, path: Path, media_type: str, *, ranges: bool, cache_control: str = CACHE_CONTROL
) -> Response:
    """200, 206, 304 or 416 for this file, with ETag and Cache-Control (a file that changes in
    place, a camera's current view, is sent with "no-cache": asked again each time, 304 if same)."""
    try:
        stat = path.stat()
    except OSError:
        raise NotFoundError("média introuvable") from None
    etag = etag_of(stat)
    headers = {"ETag": etag, "Cache-Control": cache_control}
    if ranges:
        headers["Accept-Ranges"] = "bytes"
    if_none_match = request.headers.get("if-none-match")
    if if_none_match is not None and _matches(if_none_match, etag):
        return Response(status_code=304, headers=headers)
    size = stat.st_size
    wanted = request.headers.get("range") if ranges else None
    if_range = request.headers.get("if-range")
    if wanted is not None and if_range is not None and if_range.strip() != etag:
        wanted = None  # the client's copy is stale: send the whole file (RFC 9110 §13.1.5)
    if wanted is None:
        return StreamingResponse(
            _read(path, 0, size), media_type=media_type, headers=headers | {"Content-Length": str(size)}
        )
    try:
        byte_range = parse_range(wanted, size)
    except RangeNotSatisfiable:
        return JSONResponse(
            error_body(
                f"plage d'octets invalide ou hors du fichier ({size} octets) : une seule plage"
                " bytes=début-fin, bytes=début- ou bytes=-longueur"
            ),
            status_code=416,
            headers=headers | {"Content-Range": f"bytes */{size}"},
        )
    return StreamingResponse(
        _read(path, byte_range.start, byte_range.length),
        status_code=206,
        media_type=media_type,
        headers=headers
        | {
            "Content-Length": str(byte_range.length),
            "Content-Range": f"bytes {byte_range.start}-{byte_range.end}/{size}",
        },
    )

"""Frame sources: RTSP and video files (PyAV), HTTP MJPEG, HTTP snapshot polling.

Each source yields Frame(image, ts): a BGR array and epoch seconds. The stream's own timing is
kept: PyAV frame times (anchored to the wall clock when the stream opens) and an MJPEG part's
X-Timestamp header when the camera sends one. URLs may carry passwords, so every message that
could contain one goes through vigie.logs.redact().
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import av
import httpx
import numpy as np

from camera.clips import decode_jpeg
from camera.errors import SourceError
from vigie.camera_urls import StreamUrlRefused, check_stream_url, scheme_problem
from vigie.logs import redact
from vigie.outbound import IPNetwork

log = logging.getLogger(__name__)

Clock = Callable[[], float]
# Parts in a row that are not images before an MJPEG stream is judged broken.
_MAX_BAD_PARTS = 20
_MAX_HEADER_BYTES = 8192


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded image and its timestamp (epoch seconds, UTC)."""

    image: np.ndarray[Any, Any]
    ts: float


class FrameSource(Protocol):
    """Something that yields frames until it ends or fails with SourceError."""

    def frames(self) -> Iterator[Frame]:
        """Frames in stream order."""
        ...

    def close(self) -> None:
        """Release the connection or file; may be called from another thread."""
        ...


@dataclass(frozen=True)
class SourceOptions:
    """How sources connect and what they accept."""

    timeout_s: float = 10.0
    max_part_bytes: int = 20 * 1024**2
    snapshot_interval_s: float = 2.0
    # Files are read at their own frame rate (like a live camera) unless this is False.
    realtime_files: bool = True
    # Internal (loopback, private, link-local) stream hosts: VIGIE_OUTBOUND__ALLOW_PRIVATE.
    allow_private: bool = False
    # Or only these internal networks: VIGIE_OUTBOUND__ALLOWED_NETWORKS (the cameras' LAN).
    allowed_networks: tuple[IPNetwork, ...] = ()


# What FFmpeg may open for each kind (protocol_whitelist): an RTSP stream may not pull in
# file:, http: or concat:, whatever its SDP or redirects say; a file may not open the network.
_RTSP_PROTOCOLS = "rtsp,rtsps,rtp,srtp,tcp,udp,tls"
_FILE_PROTOCOLS = "file"


def _guard(kind: str, url: str, options: SourceOptions) -> None:
    """vigie.camera_urls' check of a stream URL and its host, as a SourceError the worker retries.

    Again at each connection, not only when the camera was saved: the site's settings may have
    changed, and a name may now resolve to an internal address.
    """
    try:
        check_stream_url(
            kind,
            url,
            allow_private=options.allow_private,
            allowed=options.allowed_networks,
            accept_unresolved=False,
        )
    except StreamUrlRefused as exc:
        raise SourceError(f"{redact(url)} : {exc}") from None


def open_container(url: str, *, live: bool, timeout_s: float) -> Any:
    """av.open() with FFmpeg's protocol_whitelist of the kind: a live stream may use only the
    RTSP family (not file:, http:, concat:, data:, subfile:, pipe:… whatever its SDP or a
    redirect says), a file only file:. Refused or failing: SourceError, the URL redacted."""
    if live:
        opts = {"rtsp_transport": "tcp", "protocol_whitelist": _RTSP_PROTOCOLS}
    else:
        opts = {"protocol_whitelist": _FILE_PROTOCOLS}
    try:
        return av.open(url, options=opts, timeout=(timeout_s, timeout_s))
    except (av.FFmpegError, OSError) as exc:
        # "from None": FFmpeg's error names the URL, password included, and a chained cause
        # is printed in full by any traceback (log.exception, logging's own error report).
        raise SourceError(f"ouverture de {redact(url)} impossible : {redact(str(exc))}") from None


class AvSource:
    """RTSP streams and local video files through PyAV (FFmpeg)."""

    def __init__(
        self,
        url: str,
        options: SourceOptions,
        *,
        clock: Clock = time.time,
        stop: threading.Event | None = None,
        live: bool = True,
    ) -> None:
        self.url = url
        self.options = options
        self.clock = clock
        self.stop = stop or threading.Event()
        self.live = live
        self._container: Any = None
        # FFmpeg frees the demuxer in close(): doing that from another thread while frames() is
        # inside a read is a use-after-free (a segfault). Only the reading thread closes it.
        self._lock = threading.Lock()
        self._reader: int | None = None
        self._close_requested = False

    def _open(self) -> Any:
        if self.live:
            _guard("rtsp", self.url, self.options)
        return open_container(self.url, live=self.live, timeout_s=self.options.timeout_s)

    def frames(self) -> Iterator[Frame]:
        """Decode video frames; frame times are kept relative to the first one."""
        with self._lock:
            self._reader = threading.get_ident()
        # Anchor before opening: av.open() already reads the first seconds of a stream to probe
        # it (~20 frames over RTSP), so an anchor taken after it would date those frames seconds
        # after they arrived, and every later frame seconds in the future.
        anchor = self.clock()
        self._container = container = self._open()
        if not container.streams.video:
            self.close()
            raise SourceError(f"{redact(self.url)} ne contient pas de vidéo")
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        first: float | None = None
        count = 0
        try:
            for frame in container.decode(stream):
                if self._close_requested:
                    return
                rel = frame.time
                if rel is None or not math.isfinite(rel):
                    rel = (first or 0.0) + count / 25.0  # no timestamps: assume 25 fps
                if first is None:
                    first = rel
                ts = anchor + (rel - first)
                if not self.live and self.options.realtime_files:
                    # Pace a file like a live camera so the worker sees real time.
                    if self.stop.wait(max(0.0, ts - self.clock())):
                        return
                count += 1
                yield Frame(frame.to_ndarray(format="bgr24"), ts)
        except (av.FFmpegError, OSError, ValueError) as exc:
            raise SourceError(f"flux {redact(self.url)} illisible : {redact(str(exc))}") from None
        finally:
            self._release()  # whichever thread runs the generator is not inside FFmpeg now
        if count == 0:
            raise SourceError(f"{redact(self.url)} ne contient aucune image décodable")

    def close(self) -> None:
        """Close the container; from another thread than the one in frames(), only ask it to.

        The reading thread then closes it after the read in progress: at the next frame, or at
        the latest when the read times out (timeout_s).
        """
        with self._lock:
            self._close_requested = True
            if self._reader is not None and self._reader != threading.get_ident():
                return
        self._release()

    def _release(self) -> None:
        with self._lock:
            container, self._container = self._container, None
            self._reader = None
        if container is not None:
            try:
                container.close()
            except (av.FFmpegError, OSError):
                log.debug("closing %s failed", redact(self.url), exc_info=True)


def _boundary(content_type: str) -> bytes:
    """The multipart boundary from a Content-Type header, without leading dashes."""
    kind, _, params = content_type.partition(";")
    if kind.strip().lower() != "multipart/x-mixed-replace":
        raise SourceError(
            f"ce n'est pas un flux MJPEG (Content-Type {content_type[:80]!r}) ;"
            " pour une image fixe, choisir le type 'snapshot'"
        )
    for param in params.split(";"):
        name, _, value = param.strip().partition("=")
        if name.lower() == "boundary" and value.strip().strip('"'):
            return value.strip().strip('"').lstrip("-").encode("latin-1")
    raise SourceError("flux MJPEG sans 'boundary' dans son Content-Type")


def _part_headers(raw: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in raw.decode("latin-1").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers


# A camera clock further than this from ours is wrong (never set, battery lost): use arrival.
_MAX_CLOCK_SKEW_S = 24 * 3600.0


def _part_ts(headers: dict[str, str], clock: Clock) -> float:
    """The part's X-Timestamp (epoch seconds) when plausible, else the arrival time."""
    now = clock()
    raw = headers.get("x-timestamp")
    if raw:
        try:
            value = float(raw[:40])
        except ValueError:
            return now
        if math.isfinite(value) and abs(value - now) <= _MAX_CLOCK_SKEW_S:
            return value
    return now


class MultipartParser:
    """Splits a multipart/x-mixed-replace byte stream into (headers, body) parts.

    Parts with a Content-Length are cut exactly; others end at the next boundary. A part or a
    header block larger than the limits is hostile or broken input and raises SourceError.
    """

    def __init__(self, boundary: bytes, max_part_bytes: int) -> None:
        self.delimiter = b"--" + boundary
        self.max_part_bytes = max_part_bytes
        self._buf = bytearray()

    def feed(self, data: bytes) -> Iterator[tuple[dict[str, str], bytes]]:
        """Add bytes; yield every part that is now complete."""
        self._buf += data
        while True:
            part = self._next()
            if part is None:
                break
            yield part
        if len(self._buf) > self.max_part_bytes + _MAX_HEADER_BYTES:
            raise SourceError(f"image MJPEG de plus de {self.max_part_bytes} octets : refusée")

    def _next(self) -> tuple[dict[str, str], bytes] | None:
        buf = self._buf
        start = buf.find(self.delimiter)
        if start < 0:
            # Keep only a tail that could still hold the start of a delimiter.
            del buf[: max(0, len(buf) - len(self.delimiter))]
            return None
        head_end = buf.find(b"\r\n\r\n", start)
        if head_end < 0:
            if len(buf) - start > _MAX_HEADER_BYTES:
                raise SourceError("en-têtes de partie MJPEG trop longs")
            return None
        headers = _part_headers(bytes(buf[start + len(self.delimiter) : head_end]))
        body_start = head_end + 4
        length = headers.get("content-length")
        if length is not None:
            try:
                size = int(length)
            except ValueError as exc:
                raise SourceError(f"Content-Length invalide : {length[:20]!r}") from exc
            if size < 0 or size > self.max_part_bytes:
                raise SourceError(f"image MJPEG de {size} octets : refusée")
            if len(buf) < body_start + size:
                return None
            body = bytes(buf[body_start : body_start + size])
            del buf[: body_start + size]
            return headers, body
        end = buf.find(self.delimiter, body_start)
        if end < 0:
            return None
        body = bytes(buf[body_start:end]).rstrip(b"\r\n")
        del buf[:end]
        return headers, body


class MjpegSource:
    """An HTTP multipart/x-mixed-replace stream of JPEG images."""

    def __init__(self, url: str, options: SourceOptions, *, clock: Clock = time.time) -> None:
        self.url = url
        self.options = options
        self.clock = clock
        self._client: httpx.Client | None = None
        self.bad_parts = 0

    def frames(self) -> Iterator[Frame]:
        """Frames as the camera sends them."""
        timeout = httpx.Timeout(self.options.timeout_s)
        _guard("mjpeg", self.url, self.options)
        self._client = client = httpx.Client(timeout=timeout, follow_redirects=False)
        try:
            with client.stream("GET", self.url) as resp:
                if resp.status_code != 200:
                    raise SourceError(f"{redact(self.url)} répond HTTP {resp.status_code}")
                parser = MultipartParser(
                    _boundary(resp.headers.get("content-type", "")), self.options.max_part_bytes
                )
                bad_in_row = 0
                for chunk in resp.iter_raw():  # no size: a chunk size makes httpx wait to fill it
                    for headers, body in parser.feed(chunk):
                        image = decode_jpeg(body)
                        if image is None:
                            self.bad_parts += 1
                            bad_in_row += 1
                            if bad_in_row >= _MAX_BAD_PARTS:
                                raise SourceError(
                                    f"{redact(self.url)} : {bad_in_row} parties de suite"
                                    " ne sont pas des images JPEG"
                                )
                            continue
                        bad_in_row = 0
                        yield Frame(image, _part_ts(headers, self.clock))
        except httpx.TimeoutException as exc:
            raise SourceError(
                f"{redact(self.url)} : aucune donnée depuis {self.options.timeout_s:g} s"
            ) from exc
        except httpx.HTTPError as exc:
            raise SourceError(f"{redact(self.url)} : {redact(str(exc)) or type(exc).__name__}") from exc
        finally:
            self.close()
        raise SourceError(f"{redact(self.url)} : le flux MJPEG s'est terminé")

    def close(self) -> None:
        """Close the HTTP connection."""
        client, self._client = self._client, None
        if client is not None:
            client.close()


class SnapshotSource:
    """Polls a URL that answers one JPEG per request (cheap trail cameras)."""

    def __init__(
        self,
        url: str,
        options: SourceOptions,
        *,
        clock: Clock = time.time,
        stop: threading.Event | None = None,
    ) -> None:
        self.url = url
        self.options = options
        self.clock = clock
        self.stop = stop or threading.Event()
        self._client: httpx.Client | None = None

    def _fetch(self, client: httpx.Client) -> bytes:
        with client.stream("GET", self.url) as resp:
            if resp.status_code != 200:
                raise SourceError(f"{redact(self.url)} répond HTTP {resp.status_code}")
            data = bytearray()
            for chunk in resp.iter_raw():  # no size: a chunk size makes httpx wait to fill it
                data += chunk
                if len(data) > self.options.max_part_bytes:
                    raise SourceError(f"image de plus de {self.options.max_part_bytes} octets : refusée")
            return bytes(data)

    def frames(self) -> Iterator[Frame]:
        """One frame per poll interval, timestamped at the request."""
        _guard("snapshot", self.url, self.options)
        self._client = client = httpx.Client(
            timeout=httpx.Timeout(self.options.timeout_s), follow_redirects=False
        )
        try:
            while not self.stop.is_set():
                asked = self.clock()
                try:
                    data = self._fetch(client)
                except httpx.TimeoutException as exc:
                    raise SourceError(
                        f"{redact(self.url)} : aucune réponse en {self.options.timeout_s:g} s"
                    ) from exc
                except httpx.HTTPError as exc:
                    raise SourceError(f"{redact(self.url)} : {redact(str(exc))}") from exc
                image = decode_jpeg(data)
                if image is None:
                    raise SourceError(f"{redact(self.url)} : la réponse n'est pas une image JPEG")
                yield Frame(image, asked)
                self.stop.wait(max(0.0, self.options.snapshot_interval_s - (self.clock() - asked)))
        finally:
            self.close()

    def close(self) -> None:
        """Close the HTTP client."""
        client, self._client = self._client, None
        if client is not None:
            client.close()


@dataclass(frozen=True)
class SourceKind:
    """How one kind of camera URL is opened."""

    name: str
    live: bool
    build: Callable[[str, SourceOptions, Clock, threading.Event], FrameSource]


SOURCE_KINDS: dict[str, SourceKind] = {
    k.name: k
    for k in (
        SourceKind("rtsp", True, lambda u, o, c, s: AvSource(u, o, clock=c, stop=s, live=True)),
        SourceKind("file", False, lambda u, o, c, s: AvSource(u, o, clock=c, stop=s, live=False)),
        SourceKind("mjpeg", True, lambda u, o, c, s: MjpegSource(u, o, clock=c)),
        SourceKind("snapshot", True, lambda u, o, c, s: SnapshotSource(u, o, clock=c, stop=s)),
    )
}


def open_source(
    kind: str,
    url: str,
    options: SourceOptions,
    *,
    clock: Clock = time.time,
    stop: threading.Event | None = None,
) -> FrameSource:
    """A source of the given kind (rtsp, file, mjpeg, snapshot); nothing connects until frames()."""
    try:
        spec = SOURCE_KINDS[kind]
    except KeyError as exc:
        raise SourceError(f"type de source inconnu {kind!r}") from exc
    # Also here, not only when a camera is saved: rows written before the check existed.
    problem = scheme_problem(kind, url)
    if problem is not None:
        raise SourceError(problem)
    return spec.build(url, options, clock, stop or threading.Event())

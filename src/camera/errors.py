"""The camera worker's errors (the detect side raises camera.config.CameraConfigError)."""

from vigie.errors import VigieError


class CameraError(VigieError):
    """Base of the camera worker's errors."""


class CameraInputError(CameraError):
    """A camera row, command argument or file was refused; the message is for the user."""


class SourceError(CameraError):
    """A frame source failed (unreachable, corrupt, hostile); the worker reconnects."""


class ClipError(CameraError):
    """A clip, snapshot or thumbnail could not be written; the event is kept without it."""


class DiskFullError(ClipError):
    """Free space is under the configured minimum: no new clip is started."""

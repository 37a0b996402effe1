"""The shared exception hierarchy; each service subclasses VigieError for its own errors."""


class VigieError(Exception):
    """Base of every error Vigie raises on purpose."""


class ConfigError(VigieError):
    """A setting or configuration file is invalid; the message says which and why."""


class NotFoundError(VigieError):
    """A named resource (station, camera, rule...) does not exist."""


class ConflictError(VigieError):
    """The request conflicts with existing state (duplicate id, stale update)."""


class ValidationFailed(VigieError):
    """Input was understood but refused; the message is meant for the user."""

"""Errors of the alert engine (rules, hydrology, evaluation)."""

from __future__ import annotations

from vigie.errors import ConfigError, ValidationFailed, VigieError


class AlertsError(VigieError):
    """Base of every error the alert engine raises on purpose."""


class AlertsConfigError(AlertsError, ConfigError):
    """A rule, catchment or coefficient set stored in the database is unusable."""


class AlertsInputError(AlertsError, ValidationFailed):
    """A request to the engine (acknowledgement, rule) was refused; the message says why."""

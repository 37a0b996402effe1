"""Errors of the gauge simulator."""

from vigie.errors import VigieError


class SimulatorError(VigieError):
    """The simulation was asked for something impossible; the message says what."""


class PublishError(SimulatorError):
    """The broker refused or did not acknowledge a message in time."""

"""Hypothesis profiles for the fuzz suite.

`ci` (the default, what `make test` runs): 200 examples per property, derandomized so that a run
is reproducible and a failure is the same failure on every machine, no example database written
into the checkout, no deadline (the machines are shared and noisy). `long` is for `make fuzz`:
random, many more examples. Pick one with VIGIE_HYPOTHESIS_PROFILE.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

_COMMON = {
    "database": None,
    "deadline": None,
    "print_blob": True,
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large],
}
settings.register_profile("ci", max_examples=200, derandomize=True, **_COMMON)  # type: ignore[arg-type]
settings.register_profile("long", max_examples=20_000, derandomize=False, **_COMMON)  # type: ignore[arg-type]
settings.load_profile(os.environ.get("VIGIE_HYPOTHESIS_PROFILE", "ci"))

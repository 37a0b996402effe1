"""The rule validator, the subscriber channel validator and the camera config loader under
generated hostile input.

Invariant: each returns a valid model or raises its own clear error (ValidationFailed,
CameraConfigError, pydantic's ValidationError; parse_params's ValueError), never another
exception, and what it accepts can be used (normalised, masked, grouped) without raising.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import event, given
from hypothesis import strategies as st
from pydantic import ValidationError

from camera.config import CameraConfigError, load_event_config, load_motion_config
from tests.fuzz.strategies import any_text, huge_numbers, json_values, scalars, short_text
from vigie.alert_rules import (
    HEALTH_CHECKS,
    PARAMS_BY_KIND,
    RETURN_PERIOD_WINDOWS_MIN,
    WINDOWS_MIN,
    group_key,
    parse_params,
    validate_rule,
)
from vigie.errors import ValidationFailed
from vigie.subscribers import SCHEMES, Channel, SubscriberIn, mask_url, masked_channels

hostile = scalars | json_values


def maybe(valid: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Nine times in ten a valid value, else anything: so that examples reach the later checks."""
    # sampled_from, not integers(0, 9): hypothesis draws integers' bounds far more often.
    return st.sampled_from([False] * 9 + [True]).flatmap(lambda bad: hostile if bad else valid)


def with_required(
    required: dict[str, st.SearchStrategy[Any]], optional: dict[str, st.SearchStrategy[Any]]
) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(required, optional=optional)


def optional_keys(fields: dict[str, st.SearchStrategy[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({}, optional=fields).flatmap(
        lambda d: st.dictionaries(short_text, hostile, max_size=2).map(lambda extra: {**d, **extra})
        | st.just(d)
    )


thresholds = st.floats(min_value=0, max_value=200) | huge_numbers
rule_params = with_required(
    {"raise": maybe(thresholds), "clear": maybe(thresholds)},
    {
        "for_min": maybe(st.integers(0, 1440)),
        "window_min": maybe(st.sampled_from(WINDOWS_MIN)),
        "windows": maybe(st.lists(st.sampled_from(RETURN_PERIOD_WINDOWS_MIN), max_size=8)),
        "min_span_min": maybe(st.integers(5, 60)),
        "lookback_min": maybe(st.integers(5, 360)),
        "measure": maybe(st.sampled_from(["q_mm", "volume_m3"])),
        "ia_ratio": maybe(st.floats(0.01, 0.5)),
        "check": maybe(st.sampled_from(HEALTH_CHECKS)),
        "radius_km": maybe(st.floats(0, 100)),
        "montana_set": maybe(short_text),
    },
) | optional_keys({"raise": hostile, "clear": hostile, "junk": hostile})
rules = with_required(
    {
        "name": maybe(st.text(min_size=1, max_size=30)),
        "kind": maybe(st.sampled_from(sorted(PARAMS_BY_KIND))),
        "scope_kind": maybe(st.sampled_from(["station", "catchment", "commune"])),
        "scope_id": maybe(st.sampled_from(["*", "60636", "thourotte-mairie", "bv-matz"])),
        "level": maybe(st.sampled_from(["yellow", "orange", "red"])),
        "params": maybe(rule_params),
    },
    {
        "audience": maybe(st.sampled_from([None, "public", "technicians"])),
        "enabled": maybe(st.booleans()),
    },
)


# Rules that pass, with one field then swapped: the accepted path gets exercised too.
coherent = st.builds(
    lambda raise_, frac, window, level, swap: {
        "name": "cumul",
        "kind": "accumulation",
        "scope_kind": "station",
        "scope_id": "thourotte-mairie",
        "level": level,
        "params": {"raise": raise_, "clear": raise_ * frac, "window_min": window},
        **swap,
    },
    st.floats(min_value=0.1, max_value=1e6),
    st.floats(min_value=0, max_value=0.99),
    st.sampled_from(WINDOWS_MIN),
    st.sampled_from(["yellow", "orange", "red"]),
    st.just({}) | st.dictionaries(st.sampled_from(["name", "level", "params"]), hostile, max_size=1),
)


@given(data=coherent | rules | hostile)
def test_rule_validator(data: Any) -> None:
    try:
        rule = validate_rule(data)
    except ValidationFailed as exc:
        assert str(exc).startswith("règle refusée")
        event("refused")
        return
    event("accepted")
    params = rule.typed_params()
    assert rule.normalized_params() == parse_params(rule.kind, rule.normalized_params()).model_dump(
        mode="json", by_alias=True
    )  # what is stored validates again, to the same thing
    group_key(rule.kind, params)
    assert rule.effective_audience() in ("public", "technicians")


@given(kind=st.sampled_from(sorted(PARAMS_BY_KIND)) | short_text, params=rule_params | hostile)
def test_rule_params(kind: str, params: Any) -> None:
    try:
        parse_params(kind, params)
    except ValueError:  # ValidationError is a ValueError: the documented contract
        pass


schemes = st.sampled_from([*sorted({s for k in SCHEMES.values() for s in k}), "http", "file", "MAILTOS"])
urls = st.one_of(
    st.builds(lambda s, rest: f"{s}://{rest}", schemes, any_text),
    any_text,
)
channels = optional_keys({"kind": maybe(st.sampled_from(sorted(SCHEMES))), "url": maybe(urls)})


@given(data=channels | hostile)
def test_channel_validator(data: Any) -> None:
    try:
        channel = Channel.model_validate(data)
    except ValidationError as exc:
        url = data.get("url") if isinstance(data, dict) else None
        if isinstance(url, str) and len(url) >= 8:
            assert url not in str(exc)  # a refused URL is a secret: never quoted into logs
        return
    assert channel.url.split("://", 1)[0].lower() in SCHEMES[channel.kind]


@given(
    data=optional_keys(
        {
            "name": maybe(st.text(min_size=1, max_size=30)) | any_text,
            "communes": maybe(st.lists(st.sampled_from(["60636", "60537", "6063x"]), max_size=3)),
            "catchments": maybe(st.lists(st.sampled_from(["bv-matz", "BV", "x"]), max_size=3)),
            "min_level": maybe(st.sampled_from(["yellow", "orange", "red"])),
            "channels": maybe(st.lists(channels, max_size=3)),
            "quiet_start": maybe(st.sampled_from(["22:00", "22:00+01:00", "25:00"])),
            "quiet_end": maybe(st.sampled_from(["07:00", "22:00"])),
            "timezone": maybe(st.sampled_from(["Europe/Paris", "UTC", "../etc/passwd", "Mars/Olympus"])),
            "audience": maybe(st.sampled_from(["public", "technicians"])),
            "active": maybe(st.booleans()),
        }
    )
    | hostile
)
def test_subscriber_validator(data: Any) -> None:
    try:
        sub = SubscriberIn.model_validate(data)
    except ValidationError:
        event("refused")
        return
    event("accepted")
    assert sub.name == sub.name.strip() and sub.name
    masked_channels([c.model_dump() for c in sub.channels])


@given(
    scheme=schemes,
    user=st.text("abcdefghij", min_size=1, max_size=8),
    secret=st.text("0123456789", min_size=8, max_size=16),
    host=st.from_regex(r"\A[a-z]{1,10}\.(fr|com)\Z") | any_text,
    tail=any_text,
)
def test_masked_url_never_shows_the_secret(scheme: str, user: str, secret: str, host: str, tail: str) -> None:
    url = f"{scheme}://{user}:S{secret}@{host}/{tail}"
    assert f"S{secret}" not in mask_url(url)


@given(raw=hostile)
def test_masked_channels_of_anything(raw: Any) -> None:
    out = masked_channels(raw)
    assert all(set(c) == {"kind", "url"} for c in out)


coords = st.floats(min_value=0, max_value=1) | huge_numbers
points = st.lists(st.tuples(coords, coords) | hostile, max_size=300)
profiles = optional_keys(
    {
        "threshold": maybe(st.integers(1, 254)),
        "min_area": maybe(st.floats(0, 0.5)),
        "persistence_frames": maybe(st.integers(1, 100)),
        "stretch": maybe(st.floats(1, 4)),
        "blur": maybe(st.integers(1, 31)),
    }
)
motion = optional_keys(
    {
        "detector": maybe(st.sampled_from(["frigate_like", "mog2", "nope"])),
        "detection_height": maybe(st.integers(60, 1080)),
        "day": maybe(profiles),
        "night": maybe(profiles),
        "masks": maybe(st.lists(optional_keys({"points": maybe(points)}), max_size=3)),
        "alpha": maybe(st.floats(0, 1)),
        "sway_px": maybe(st.integers(0, 8)),
        "colour": maybe(st.booleans()),
        "night_saturation": maybe(st.floats(0, 255)),
    }
)
events = optional_keys(
    {
        "pre_roll_s": maybe(st.floats(0, 60)),
        "post_roll_s": maybe(st.floats(0, 120)),
        "gap_s": maybe(st.floats(0, 600)),
        "max_clip_s": maybe(st.floats(10, 3600)),
    }
)


@given(data=motion | hostile, camera=short_text)
def test_camera_motion_config(data: Any, camera: str) -> None:
    try:
        cfg = load_motion_config(data, camera)
    except CameraConfigError as exc:
        assert "configuration de détection invalide" in str(exc)
        event("refused")
        return
    event("accepted")
    for mask in cfg.masks:
        assert 3 <= len(mask.points) <= 256


@given(data=events | hostile, camera=short_text)
def test_camera_event_config(data: Any, camera: str) -> None:
    try:
        cfg = load_event_config(data, camera)
    except CameraConfigError:
        return
    assert cfg.max_clip_s > cfg.pre_roll_s + cfg.post_roll_s


def test_hostile_strategy_reaches_the_later_checks() -> None:
    """The generators are not all refused at the first field (which would test nothing)."""
    with pytest.raises(ValidationFailed, match="seuil de fin"):
        validate_rule(
            {
                "name": "r",
                "kind": "accumulation",
                "scope_kind": "station",
                "scope_id": "st-a",
                "level": "red",
                "params": {"raise": 10, "clear": 20, "window_min": 60},
            }
        )


@pytest.mark.parametrize(
    "data",
    [
        # Short: pydantic shortens a long input in its text, which hid the leak from hand tests.
        {"kind": "sms", "url": "json://u:s3cr3t@h"},  # wrong kind
        {"kind": "email", "url": "mailto://u:s3cr3t@h x"},  # a space
        {"url": "mailto://u:s3cr3t@h"},  # no kind
    ],
)
def test_refused_channel_url_is_not_quoted_in_the_error(data: dict[str, str]) -> None:
    """Regression (found by test_channel_validator): pydantic's error text quoted the input,
    credentials included, and error text is what ends up in logs."""
    with pytest.raises(ValidationError) as info:
        Channel.model_validate(data)
    assert "s3cr3t" not in str(info.value)
    with pytest.raises(ValidationError) as info:
        SubscriberIn.model_validate({"name": "Alice", "channels": [data]})
    assert "s3cr3t" not in str(info.value)

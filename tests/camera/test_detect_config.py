"""Camera motion configs: invalid masks and values are refused with a readable message."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from camera.config import CameraConfigError, Mask, MotionConfig, load_motion_config

SQUARE = [[0.1, 0.1], [0.5, 0.1], [0.5, 0.5], [0.1, 0.5]]


def test_a_valid_config_round_trips() -> None:
    cfg = load_motion_config({"detector": "mog2", "masks": [{"points": SQUARE}]}, camera="mare")
    assert cfg.detector == "mog2"
    assert cfg.masks[0].points[2] == (0.5, 0.5)
    assert MotionConfig.model_validate(cfg.model_dump()) == cfg


@pytest.mark.parametrize(
    ("points", "message"),
    [
        ([[0.1, 0.1], [0.5, 0.5]], "au moins 3 points"),
        ([[0.1, 0.1], [1.5, 0.1], [0.5, 0.5]], "sort de l'image"),
        ([[0.1, -0.2], [0.5, 0.1], [0.5, 0.5]], "sort de l'image"),
        ([[0.1, 0.1], [0.5, 0.5], [0.5, 0.1], [0.1, 0.5]], "se croise"),
        ([["a", 0.1], [0.5, 0.1], [0.5, 0.5]], "masks"),
    ],
)
def test_invalid_masks_are_refused_clearly(points: list[list[object]], message: str) -> None:
    with pytest.raises(CameraConfigError, match=message) as err:
        load_motion_config({"masks": [{"points": points}]}, camera="mare-aux-hérons")
    assert "mare-aux-hérons" in str(err.value)
    assert "masks.0.points" in str(err.value)


def test_pydantic_models_raise_validation_error_directly() -> None:
    with pytest.raises(ValidationError):
        Mask(points=((0.0, 0.0), (1.0, 1.0)))


@pytest.mark.parametrize(
    "bad",
    [
        {"detector": "yolo"},
        {"detection_height": 10},
        {"detection_height": 100000},
        {"day": {"threshold": 0}},
        {"day": {"blur": 4}},
        {"night": {"min_area": 2}},
        {"recalibrate_fraction": 0},
        {"small_blob_fraction": 0},
        {"small_blob_fraction": 1.5},
        {"small_blob_fraction": "beaucoup"},
        {"masks": "everywhere"},
        {"unknown_field": True},
    ],
)
def test_out_of_range_and_hostile_values_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(CameraConfigError, match="configuration de détection invalide"):
        load_motion_config(bad, camera="c")


def test_many_masks_and_points_are_accepted_within_reason() -> None:
    ring = [[0.1, 0.0], *[[0.2, i / 200] for i in range(1, 200)], [0.05, 1.0]]
    cfg = load_motion_config({"masks": [{"points": ring}] * 3})
    assert len(cfg.masks) == 3


def test_oversized_masks_are_refused() -> None:
    huge = [[0.1, 0.0], *[[0.2, i / 5000] for i in range(1, 5000)], [0.05, 1.0]]
    with pytest.raises(CameraConfigError, match=r"masks\.0\.points"):
        load_motion_config({"masks": [{"points": huge}]})
    with pytest.raises(CameraConfigError, match="masks"):
        load_motion_config({"masks": [{"points": SQUARE}] * 100})

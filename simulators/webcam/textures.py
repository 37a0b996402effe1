"""Precomputed images the scene reuses every frame: smooth noise, background, leafy sprites."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


def smooth_noise(rng: np.random.Generator, width: int, height: int, cell: int) -> np.ndarray:
    """Float32 noise in 0..1 varying over about `cell` pixels, resized from a coarse grid."""
    gw, gh = max(2, width // cell + 2), max(2, height // cell + 2)
    coarse = rng.random((gh, gw), dtype=np.float32)
    return cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def background(rng: np.random.Generator, width: int, height: int, habitat: str) -> np.ndarray:
    """A textured BGR forest or wetland background (ground, distant trees, trunks)."""
    s = width / 1280
    img = np.zeros((height, width, 3), np.float32)
    yy = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None]
    horizon = 0.38
    # Distant canopy: dark greens; ground: browns (forest) or blue-grey water (wetland).
    canopy = np.array([55, 95, 60], np.float32)
    ground = (
        np.array([55, 85, 105], np.float32) if habitat == "forest" else np.array([105, 100, 80], np.float32)
    )
    above = (yy < horizon).astype(np.float32)[..., None]
    img += above * canopy + (1 - above) * ground
    fine = smooth_noise(rng, width, height, max(2, int(6 * s)))
    mid = smooth_noise(rng, width, height, max(4, int(40 * s)))
    img *= (0.7 + 0.35 * mid + 0.25 * fine)[..., None]
    if habitat == "wetland":
        # Reed bank between water and canopy.
        band = ((yy > horizon) & (yy < horizon + 0.1)).astype(np.float32)[..., None]
        reeds = np.array([60, 120, 130], np.float32) * (0.7 + 0.5 * fine[..., None])
        img = (img * (1 - band) + band * reeds).astype(np.float32)
    out = img.clip(0, 255).astype(np.uint8)
    if habitat == "forest":
        for _ in range(9):
            x = int(rng.uniform(0, width))
            w = int(rng.uniform(10, 45) * s)
            shade = rng.uniform(0.6, 1.0)
            colour = tuple(int(c * shade) for c in (50, 62, 75))
            cv2.rectangle(out, (x, 0), (x + w, int(height * rng.uniform(0.45, 0.7))), colour, -1)
    return out


@dataclass(frozen=True)
class Sprite:
    """A BGR patch with alpha (float32 0..1) and the anchor it sways around, in patch pixels."""

    bgr: np.ndarray
    alpha: np.ndarray
    anchor: tuple[float, float]


def leafy_sprite(
    rng: np.random.Generator, w: int, h: int, anchor: tuple[float, float], dense: float
) -> Sprite:
    """A cluster of leaves on a branch, drawn as many small ellipses in greens."""
    bgr = np.zeros((h, w, 3), np.uint8)
    alpha = np.zeros((h, w), np.uint8)
    ax, ay = anchor
    n = int(dense * w * h / 120)
    # Leaves gather along a few twigs radiating from the anchor.
    twigs = [(rng.uniform(0, w), rng.uniform(0, h)) for _ in range(5)]
    for _ in range(n):
        tx, ty = twigs[int(rng.integers(len(twigs)))]
        f = rng.random()
        cx = int(ax + (tx - ax) * f + rng.normal(0, w * 0.08))
        cy = int(ay + (ty - ay) * f + rng.normal(0, h * 0.08))
        axes = (int(rng.uniform(3, 9) * w / 300 + 2), int(rng.uniform(2, 5) * w / 300 + 1))
        g = rng.uniform(0.5, 1.2)
        colour = (int(40 * g), int(rng.uniform(100, 170) * g), int(rng.uniform(50, 90) * g))
        ang = rng.uniform(0, 180)
        cv2.ellipse(bgr, (cx, cy), axes, ang, 0, 360, colour, -1)
        cv2.ellipse(alpha, (cx, cy), axes, ang, 0, 360, 255, -1)
    for tx, ty in twigs:
        cv2.line(bgr, (int(ax), int(ay)), (int(tx), int(ty)), (40, 55, 70), max(1, w // 150))
        cv2.line(alpha, (int(ax), int(ay)), (int(tx), int(ty)), 255, max(1, w // 150))
    return Sprite(bgr, alpha.astype(np.float32) / 255.0, anchor)


def grass_band(rng: np.random.Generator, width: int, height: int) -> Sprite:
    """A band of grass blades along the bottom edge."""
    bgr = np.zeros((height, width, 3), np.uint8)
    alpha = np.zeros((height, width), np.uint8)
    for _ in range(int(width * 0.9)):
        x = rng.uniform(0, width)
        top = rng.uniform(0, height * 0.8)
        lean = rng.normal(0, height * 0.15)
        g = rng.uniform(0.6, 1.3)
        colour = (int(45 * g), int(130 * g), int(95 * g))
        cv2.line(bgr, (int(x), height), (int(x + lean), int(top)), colour, 1 + int(width > 900))
        cv2.line(alpha, (int(x), height), (int(x + lean), int(top)), 255, 1 + int(width > 900))
    return Sprite(bgr, alpha.astype(np.float32) / 255.0, (width / 2, float(height)))


def rain_layers(rng: np.random.Generator, width: int, height: int, n: int) -> list[np.ndarray]:
    """A few uint8 grey layers of slanted streaks, added to frames while it rains."""
    layers = []
    s = width / 1280
    for _ in range(n):
        layer = np.zeros((height, width), np.uint8)
        for _ in range(int(260 * s * s * 4) + 20):
            x, y = rng.uniform(0, width), rng.uniform(0, height)
            length = rng.uniform(12, 35) * s
            cv2.line(
                layer,
                (int(x), int(y)),
                (int(x + length * 0.25), int(y + length)),
                int(rng.uniform(25, 60)),
                1,
            )
        layers.append(cv2.GaussianBlur(layer, (3, 3), 0))
    return layers


def noise_pair(
    rng: np.random.Generator, width: int, height: int, sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Positive and negative uint8 parts of a Gaussian noise field, slightly larger than the frame."""
    field = rng.normal(0, sigma, (height + 16, width + 16)).astype(np.float32)
    return field.clip(0, 255).astype(np.uint8), (-field).clip(0, 255).astype(np.uint8)

"""Dalal and Triggs' HOG people detector, as OpenCV 4 ships it (`HOGDescriptor` with
`getDefaultPeopleDetector()`), computed with numpy and OpenCV 5's image functions.

OpenCV 5 dropped `HOGDescriptor` from its main modules, and the project's OpenCV is 5.0, so the
same descriptor is computed here: 64x128 windows of 16x16 blocks (stride 8) of four 8x8 cells,
9 unsigned orientation bins, square-root gamma, the per-block Gaussian weight (sigma 4),
bilinear votes between cells and bins, L2-Hys normalisation (clipped at 0.2). The linear SVM is
OpenCV's own default people detector (3,780 weights and a bias, trained on the INRIA person
set), vendored in `data/hog_people_svm.npy` from opencv-python-headless 4.14 (Apache 2.0), so
nothing is downloaded. tests/camera/test_hog.py checks the descriptor layout and the scores.

A window scores `w . descriptor + bias`; above 0 it is a person for the SVM. Windows are
searched over an image pyramid (scale step `PYRAMID_STEP`), whole windows only (no padding:
someone cut by the frame's edge is seen only by what is inside)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import cv2
import numpy as np

WIN_W, WIN_H = 64, 128
CELL = 8
NBINS = 9
BLOCKS_X, BLOCKS_Y = WIN_W // CELL - 1, WIN_H // CELL - 1  # 7 x 15
BLOCK_LEN = 4 * NBINS
PYRAMID_STEP = 1.1

Array = np.ndarray[Any, Any]


@cache
def svm() -> tuple[Array, float]:
    """(the weights as [block x][block y][36], the bias) of OpenCV's default people detector."""
    with resources.files("camera.data").joinpath("hog_people_svm.npy").open("rb") as f:
        coef = np.load(f).astype(np.float32)
    if coef.shape != (BLOCKS_X * BLOCKS_Y * BLOCK_LEN + 1,):
        raise ValueError(f"poids du détecteur de personnes inattendus : {coef.shape}")
    # OpenCV orders the blocks of a window column by column (x outer, y inner).
    return coef[:-1].reshape(BLOCKS_X, BLOCKS_Y, BLOCK_LEN), float(coef[-1])


@cache
def _vote_kernels() -> Array:
    """[quadrant y][quadrant x][cell][8][8]: the weight of each pixel of each 8x8 quadrant of a
    block in the histogram of each of its four cells (Gaussian x bilinear), as OpenCV's."""
    size = 2 * CELL
    idx = np.arange(size, dtype=np.float32)
    d = idx - size * 0.5
    gauss = np.exp(-(d[:, None] ** 2 + d[None, :] ** 2) / (2 * 4.0**2))
    pos = (idx + 0.5) / CELL - 0.5
    lo = np.floor(pos).astype(int)
    frac = pos - lo
    # Weight of cell k (0 or 1) along one axis for each pixel of the block.
    along = np.zeros((2, size), dtype=np.float32)
    for p in range(size):
        if lo[p] >= 0:
            along[lo[p], p] += 1 - frac[p]
        if lo[p] + 1 <= 1:
            along[lo[p] + 1, p] += frac[p]
    kernels = np.zeros((2, 2, 4, CELL, CELL), dtype=np.float32)
    for cx in range(2):
        for cy in range(2):
            # OpenCV orders a block's cells column by column too.
            c = cx * 2 + cy
            full = gauss * along[cy][:, None] * along[cx][None, :]
            for qy in range(2):
                for qx in range(2):
                    kernels[qy, qx, c] = full[qy * CELL : (qy + 1) * CELL, qx * CELL : (qx + 1) * CELL]
    return kernels


def _orientation_votes(image: Array) -> Array:
    """Per pixel, the gradient's magnitude split between its two nearest orientation bins:
    [h][w][9], from the colour channel with the strongest gradient, after sqrt gamma."""
    img = np.sqrt(image.astype(np.float32))
    kx = np.array([[-1, 0, 1]], dtype=np.float32)
    dx = cv2.filter2D(img, cv2.CV_32F, kx, borderType=cv2.BORDER_REFLECT_101)
    dy = cv2.filter2D(img, cv2.CV_32F, kx.T, borderType=cv2.BORDER_REFLECT_101)
    if img.ndim == 3:
        mag2 = dx * dx + dy * dy
        best = np.argmax(mag2, axis=2)[..., None]
        dx = np.take_along_axis(dx, best, axis=2)[..., 0]
        dy = np.take_along_axis(dy, best, axis=2)[..., 0]
    mag = np.sqrt(dx * dx + dy * dy)
    angle = np.arctan2(dy, dx)
    angle = np.where(angle < 0, angle + np.pi, angle) * (NBINS / np.pi) - 0.5
    low = np.floor(angle)
    frac = angle - low
    low = low.astype(np.int64)
    h, w = mag.shape
    votes = np.zeros((h, w, NBINS), dtype=np.float32)
    # The two bins of a pixel always differ, so plain assignment is exact (no add.at needed).
    np.put_along_axis(votes, (low % NBINS)[..., None], (mag * (1 - frac))[..., None], axis=2)
    np.put_along_axis(votes, ((low + 1) % NBINS)[..., None], (mag * frac)[..., None], axis=2)
    return votes


def blocks(image: Array) -> Array:
    """The normalised block descriptors of the image: [block y][block x][36], blocks every 8
    pixels (the image is cut to a multiple of 8)."""
    h, w = image.shape[0] // CELL * CELL, image.shape[1] // CELL * CELL
    votes = _orientation_votes(image)[:h, :w]
    ty, tx = h // CELL, w // CELL
    tiles = votes.reshape(ty, CELL, tx, CELL, NBINS)
    k = _vote_kernels()
    # parts[qy][qx][cell]: each 8x8 tile's weighted histogram as quadrant (qy, qx) of a block.
    parts = np.einsum("aybxn,pqcyx->pqcabn", tiles, k, optimize=True)
    hist = np.zeros((ty - 1, tx - 1, 4, NBINS), dtype=np.float32)
    for qy in range(2):
        for qx in range(2):
            hist += parts[qy, qx, :, qy : qy + ty - 1, qx : qx + tx - 1].transpose(1, 2, 0, 3)
    v = hist.reshape(ty - 1, tx - 1, BLOCK_LEN)
    # L2-Hys, with OpenCV's constants.
    v = v / (np.sqrt((v * v).sum(axis=2, keepdims=True)) + 0.1 * BLOCK_LEN)
    v = np.minimum(v, 0.2)
    out: Array = v / (np.sqrt((v * v).sum(axis=2, keepdims=True)) + 1e-3)
    return out


def window_descriptor(window: Array) -> Array:
    """The 3,780 values of one 64x128 window, in OpenCV's order (for the tests)."""
    b = blocks(window)
    return b.transpose(1, 0, 2).reshape(-1)


def window_scores(image: Array) -> Array:
    """The SVM score of every 64x128 window of the image, every 8 pixels: [y][x]."""
    b = blocks(image)
    ny, nx = b.shape[0] - BLOCKS_Y + 1, b.shape[1] - BLOCKS_X + 1
    weights, bias = svm()
    if ny <= 0 or nx <= 0:
        return np.zeros((0, 0), dtype=np.float32)
    scores = np.full((ny, nx), bias, dtype=np.float32)
    for j in range(BLOCKS_X):
        for i in range(BLOCKS_Y):
            scores += b[i : i + ny, j : j + nx] @ weights[j, i]
    return scores


@dataclass(frozen=True)
class Detection:
    """A person found: its box in the image's pixels and the SVM's score."""

    x: int
    y: int
    w: int
    h: int
    score: float


def detect(image: Array, *, threshold: float = 0.0, nms: float = 0.3) -> list[Detection]:
    """People in a BGR (or grey) image: windows over the pyramid scoring above threshold, the
    overlapping ones merged (non-maximum suppression at IoU nms), best first."""
    found: list[Detection] = []
    scale = 1.0
    level = image
    while level.shape[0] >= WIN_H and level.shape[1] >= WIN_W:
        scores = window_scores(level)
        for wy, wx in zip(*np.nonzero(scores > threshold), strict=True):
            found.append(
                Detection(
                    round(wx * CELL * scale),
                    round(wy * CELL * scale),
                    round(WIN_W * scale),
                    round(WIN_H * scale),
                    float(scores[wy, wx]),
                )
            )
        scale *= PYRAMID_STEP
        size = (round(image.shape[1] / scale), round(image.shape[0] / scale))
        if size[0] < WIN_W or size[1] < WIN_H:
            break
        level = cv2.resize(image, size, interpolation=cv2.INTER_AREA)
    return suppress(found, nms)


def _iou(a: Detection, b: Detection) -> float:
    x0, y0 = max(a.x, b.x), max(a.y, b.y)
    x1, y1 = min(a.x + a.w, b.x + b.w), min(a.y + a.h, b.y + b.h)
    inter = max(0, x1 - x0) * max(0, y1 - y0)
    return inter / float(a.w * a.h + b.w * b.h - inter) if inter else 0.0


def suppress(found: list[Detection], iou: float) -> list[Detection]:
    """Greedy non-maximum suppression: the best box of each overlapping group, best first."""
    kept: list[Detection] = []
    for d in sorted(found, key=lambda d: -d.score):
        if all(_iou(d, k) <= iou for k in kept):
            kept.append(d)
    return kept

"""The stages every detector shares: downscale, blur, masks, guards, flicker map, persistence."""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

from camera.config import Mask, MotionConfig, Profile
from camera.detect.base import Box, MotionResult

# One camera, one thread: each camera's detector runs on its own thread, and OpenCV's pool on
# top of it spends more CPU handing 640x360 pictures between threads than it saves (CPU per
# frame at 360 px on the bench footage: frigate_like 12.9 ms against 16.3 with OpenCV's default
# of two threads here, mog2 21.7 against 30.2).
cv2.setNumThreads(1)

# Side of the persistence grid cells, in detection pixels: a blob must stay in (or next to) the
# same cell for N frames, which random rain streaks and leaf flicker rarely do.
CELL = 8
# Colour frames are sampled this small to judge saturation (IR night is nearly grey).
SAT_WIDTH = 64
# A jump of the mean grey level this large between two frames is a lamp, lightning or the IR
# cut filter, never an animal.
LIGHT_JUMP = 25.0
# At night, a blob with more than INSECT_SHARE of its changed pixels at INSECT_GREY or above
# (after the contrast stretch) is an insect lit by the IR lamp.
INSECT_GREY = 230
INSECT_SHARE = 0.25
# ... and no larger than this fraction of the frame: a moth is a small disc, while a large
# near-white blob (a pale animal close to the lamp) must still count.
INSECT_AREA = 0.004
# A blob with more than this share of its changed pixels next to flickering ones (within
# flicker_halo) is vegetation swinging beyond its learnt reach.
HALO_SHARE = 0.9
# Hysteresis on the saturation rule so dusk does not toggle day/night every frame.
DAY_FACTOR = 1.6


def detection_size(width: int, height: int, detection_height: int) -> tuple[int, int]:
    """The (width, height) of the detection frame, keeping the aspect ratio."""
    h = min(detection_height, height)
    w = max(8, round(width * h / height))
    return w, h


def rasterise_masks(masks: tuple[Mask, ...], width: int, height: int) -> np.ndarray:
    """A uint8 map (255 = watched, 0 = masked) of the detection frame."""
    keep = np.full((height, width), 255, np.uint8)
    for mask in masks:
        pts = np.array([[x * (width - 1), y * (height - 1)] for x, y in mask.points], np.float32)
        cv2.fillPoly(keep, [np.round(pts).astype(np.int32)], 0)
    return keep


def sway_tolerant_diff(grey: np.ndarray, background: np.ndarray, radius: int) -> np.ndarray:
    """|grey - background| where background may shift by up to `radius` pixels.

    A leaf that swayed a few pixels still matches its background neighbourhood and vanishes;
    an animal, darker or brighter than everything around its position, does not.
    """
    if radius <= 0:
        return channel_max(cv2.absdiff(grey, background))
    k = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * radius + 1, 2 * radius + 1))
    low = cv2.erode(background, k)
    high = cv2.dilate(background, k)
    return channel_max(cv2.max(cv2.subtract(grey, high), cv2.subtract(low, grey)))


def light_gain(background: np.ndarray, frame: np.ndarray, cell: int) -> np.ndarray:
    """How much brighter the frame is than the float32 background, smoothly per area (float32).

    A cloud shadow dims a wide area by up to a third over several seconds: a running average
    lags behind and the whole shadow edge would pass for motion. The light ratio frame /
    background is taken per block of `cell` pixels, and the median of 5x5 blocks keeps an
    animal (a few blocks of the 25) from being taken for a change of light.
    """
    h, w = frame.shape[:2]
    grid = (max(1, w // cell), max(1, h // cell))
    f = cv2.resize(frame, grid, interpolation=cv2.INTER_AREA).astype(np.float32)
    b = cv2.resize(background, grid, interpolation=cv2.INTER_AREA)
    gain: np.ndarray = np.clip((f + 8.0) / (b + 8.0), 0.5, 2.0).astype(np.float32)
    if min(grid) >= 5:
        gain = cv2.medianBlur(gain, 5)
    full: np.ndarray = cv2.resize(gain, (w, h), interpolation=cv2.INTER_LINEAR)
    if frame.ndim == 3 and full.ndim == 2:
        full = cv2.merge([full, full, full])
    return full


def relight(background: np.ndarray, frame: np.ndarray, cell: int) -> np.ndarray:
    """The float32 background brought to the frame's slowly varying light, as uint8."""
    if cell <= 0:
        return cv2.convertScaleAbs(background)
    return cv2.convertScaleAbs(cv2.multiply(background, light_gain(background, frame, cell)))


def channel_max(img: np.ndarray) -> np.ndarray:
    """The largest of the channels of a colour difference (a grey one is returned as is)."""
    if img.ndim == 2:
        return img
    b, g, r = cv2.split(img)
    out: np.ndarray = cv2.max(cv2.max(b, g), r)
    return out


def mean_saturation(frame_bgr: np.ndarray) -> float:
    """Mean HSV saturation (0..255) of a small copy of the frame."""
    h, w = frame_bgr.shape[:2]
    sw = min(SAT_WIDTH, w)
    sh = max(1, round(h * sw / w))
    small = cv2.resize(frame_bgr, (sw, sh), interpolation=cv2.INTER_AREA)
    hsv = cv2.cvtColor(small, cv2.COLOR_BGR2HSV)
    return float(hsv[:, :, 1].mean())


@dataclass
class Pipeline:
    """Per-camera state of the shared stages; a background model plugs in between them."""

    config: MotionConfig
    size: tuple[int, int] | None = None
    keep: np.ndarray | None = None  # mask raster, 255 = watched
    keep_count: int = 1
    flicker: np.ndarray | None = None  # float32 EMA of "this pixel toggled"
    work: np.ndarray | None = None  # this frame's prepared picture
    last_work: np.ndarray | None = None  # the previous one, to see what changes frame to frame
    last_changed: np.ndarray | None = None  # the previous change map, to see flips
    cells: np.ndarray | None = None  # uint8 consecutive-motion count per grid cell
    night: bool = False
    cooldown: int = 0
    last_mean: float | None = None
    seen: int = 0
    guard_fired: bool = False  # the light guard fired on the last frame
    kernel: np.ndarray = field(default_factory=lambda: cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))

    @property
    def profile(self) -> Profile:
        """The thresholds of the current light regime."""
        return self.config.night if self.night else self.config.day

    def prepare(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, bool]:
        """Downscale and blur a frame; returns (work image, light_regime_changed).

        The work image is BGR by day when `colour` is on (an orange fox or a red-brown deer on
        brown ground differ far more in colour than in grey level) and grey otherwise.
        """
        if frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3 or frame_bgr.dtype != np.uint8:
            raise ValueError(f"image BGR uint8 HxWx3 attendue, reçu {frame_bgr.shape}")
        h, w = frame_bgr.shape[:2]
        size = detection_size(w, h, self.config.detection_height)
        resized = size != self.size
        if resized:
            self._reset_size(size)
        small = cv2.resize(frame_bgr, size, interpolation=cv2.INTER_AREA)
        sat = mean_saturation(small)
        was_night = self.night
        if self.night and sat > self.config.night_saturation * DAY_FACTOR:
            self.night = False
        elif not self.night and sat < self.config.night_saturation:
            self.night = True
        if was_night != self.night and not resized:
            self._relearn()
        work = small if self.config.colour and not self.night else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        k = self.profile.blur
        if k > 1:
            work = cv2.GaussianBlur(work, (k, k), 0)
        if self.profile.stretch > 1.0:
            # Dim, flat pictures (IR at night) get their contrast stretched around the mean, so
            # a grey animal on grey ground still crosses the threshold.
            mean = float(np.mean(cv2.mean(work)[: work.shape[2] if work.ndim == 3 else 1]))
            work = cv2.convertScaleAbs(
                work, alpha=self.profile.stretch, beta=mean * (1 - self.profile.stretch)
            )
        self.last_work, self.work = self.work, work
        return work, resized or was_night != self.night

    def _reset_size(self, size: tuple[int, int]) -> None:
        w, h = size
        self.size = size
        self.keep = rasterise_masks(self.config.masks, w, h)
        self.keep_count = max(1, int(np.count_nonzero(self.keep)))
        self.flicker = np.zeros((h, w), np.float32)
        self.work = self.last_work = None
        self.last_changed = np.zeros((h, w), np.uint8)
        self.cells = np.zeros(((h + CELL - 1) // CELL, (w + CELL - 1) // CELL), np.uint8)
        self.last_mean = None
        self.seen = 0
        # Learn background and flicker before judging: a cold start in wind is all motion.
        self.cooldown = self.config.warmup_frames

    def _relearn(self) -> None:
        # A new light regime (IR on or off) makes a new, noisier or stretched picture: stay
        # quiet as long as at start-up while the flicker map adapts. The map itself is kept:
        # the leaves are in the same places by night.
        self.cooldown = max(self.cooldown, self.config.warmup_frames)

    def light_jump(self, grey: np.ndarray) -> bool:
        """True when the mean brightness jumps at once (lamp, lightning, IR cut filter)."""
        m = cv2.mean(grey, mask=self.keep)
        mean = float(np.mean(m[: grey.shape[2] if grey.ndim == 3 else 1]))
        prev, self.last_mean = self.last_mean, mean
        return prev is not None and abs(mean - prev) > LIGHT_JUMP

    def finish(self, changed: np.ndarray, recalibrate: bool) -> MotionResult:
        """From a binary change map (255 = changed) to a MotionResult, applying every filter."""
        assert self.keep is not None and self.flicker is not None and self.cells is not None
        cfg = self.config
        self.guard_fired = False
        changed = cv2.bitwise_and(changed, self.keep)
        fraction = cv2.countNonZero(changed) / self.keep_count
        if recalibrate or fraction > cfg.recalibrate_fraction:
            # Most of the frame changed at once: light, not animals. Start over quietly.
            self.cooldown = max(self.cooldown, cfg.recalibrate_frames)
            self.guard_fired = True
            self.cells[:] = 0
            return MotionResult(0.0, (), False, True, self.night)
        # Learn where pixels flicker all the time (leaves, water, grass) and discount them. A
        # pixel flickers when it flips between "differs from the background" and not, or when
        # it changes from one frame to the next. Not merely "differs from the background": an
        # animal that walks slowly or stops to browse differs for many frames, but flips and
        # changes frame to frame only where its outline passes, so the map does not learn it.
        # Fast to learn, slow to forget: a branch that swings only in gusts stays discounted
        # between gusts. A plain mean over the first frames lets a cold start learn quickly.
        self.seen += 1
        up = max(cfg.flicker_alpha, 1.0 / self.seen)
        down = max(cfg.flicker_alpha * cfg.flicker_release, 1.0 / self.seen)
        if self.last_work is not None and self.work is not None and self.last_work.shape == self.work.shape:
            step = sway_tolerant_diff(self.work, self.last_work, cfg.sway_px)
            _, over = cv2.threshold(step, self.profile.threshold, 255, cv2.THRESH_BINARY)
            moved = cv2.bitwise_and(over, self.keep)
        else:
            moved = changed
        assert self.last_changed is not None
        hit = cv2.bitwise_or(moved, cv2.bitwise_xor(changed, self.last_changed)) > 0
        self.last_changed = changed
        self.flicker = np.where(
            hit, self.flicker + up * (1.0 - self.flicker), self.flicker * (1.0 - down)
        ).astype(np.float32)
        flicker_limit = cfg.flicker_level
        steady: np.ndarray = (self.flicker < flicker_limit).astype(np.uint8)
        halo = None
        if cfg.flicker_halo > 0:
            # Pixels within flicker_halo of a discounted one: where a branch lands when a gust
            # swings it further than the map has seen yet (the first strong gust on a new
            # camera). Judged per blob below, not erased, so an animal beside a bush still counts.
            side = 2 * cfg.flicker_halo + 1
            halo = cv2.erode(steady, np.ones((side, side), np.uint8)) == 0
        if cfg.flicker_spread > 0:
            # A branch swings a little further in the next gust: widen the discounted areas.
            spread = 2 * cfg.flicker_spread + 1
            steady = cv2.erode(steady, np.ones((spread, spread), np.uint8))
        changed = cv2.bitwise_and(changed, changed, mask=steady)
        if self.cooldown > 0:
            self.cooldown -= 1
            self.cells[:] = 0
            return MotionResult(0.0, (), False, True, self.night)
        # Dilation only groups nearby changed pixels into one blob; a blob's size is the count
        # of pixels that really changed in it. Measured on the dilated shape, a single stray
        # pixel grows to ~80 px and passes for an animal (leaf speckle, rain, noise).
        grouped = cv2.dilate(changed, self.kernel, iterations=2)
        n, labels, stats, _ = cv2.connectedComponentsWithStats(grouped, connectivity=8)
        moving = changed > 0
        real = np.bincount(labels[moving], minlength=n)
        glare = np.zeros(n, np.int64)
        near = np.zeros(n, np.int64)
        if halo is not None:
            near = np.bincount(labels[moving & halo], minlength=n)
        if self.night and self.work is not None and self.work.ndim == 2:
            # A moth or midge close to the lens is lit white by the IR lamp: a blob whose
            # changed pixels are largely near white is an insect, not an animal (whose eyeshine
            # is only a few pixels of its blob).
            glare = np.bincount(labels[moving & (self.work >= INSECT_GREY)], minlength=n)
        w, h = self.size or (1, 1)
        min_px = self.profile.min_area * w * h
        boxes: list[Box] = []
        area = 0
        hot = np.zeros(self.cells.shape, np.uint8)
        for i in range(1, n):
            if real[i] < min_px:
                continue
            if near[i] > HALO_SHARE * real[i]:
                # Almost all of it hugs swaying vegetation: a branch beyond its usual swing.
                continue
            if glare[i] > INSECT_SHARE * real[i] and real[i] < INSECT_AREA * w * h:
                continue
            x, y, bw, bh = (int(v) for v in stats[i, :4])
            area += int(real[i])
            boxes.append(Box(x / w, y / h, bw / w, bh / h))
            hot[y // CELL : (y + bh - 1) // CELL + 1, x // CELL : (x + bw - 1) // CELL + 1] = 1
        # Persistence: a hot cell takes the best count of its neighbourhood plus one, so a
        # moving animal keeps counting while random flicker keeps restarting at one.
        best_near = cv2.dilate(self.cells, np.ones((3, 3), np.uint8))
        self.cells = np.where(hot > 0, np.minimum(best_near, 254) + 1, 0).astype(np.uint8)
        motion = bool(self.cells.size) and int(self.cells.max()) >= self.profile.persistence_frames
        score = min(1.0, area / self.keep_count)
        return MotionResult(score, tuple(boxes), motion, False, self.night)

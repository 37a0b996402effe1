"""The stages every detector shares: downscale, blur, masks, guards, flicker map, persistence."""

from __future__ import annotations

import ctypes
import ctypes.util
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


def keep_freed_heap() -> bool:
    """Ask glibc to keep freed memory for reuse instead of handing it back to the kernel.

    Each frame allocates and frees a few full-frame arrays (a 640x360 float32 colour picture is
    2.7 MB). With glibc's defaults, freeing such an array at the top of the heap trims the heap,
    and the next frame's array faults its pages back in: 1,300 page faults a frame, about 3 of
    the 10 ms of CPU a frame took to detect on the bench footage (docs/benchmarks.md). Keeping
    up to TRIM_BYTES of freed heap, and serving arrays up to MMAP_BYTES from the heap rather
    than from fresh mappings, costs no more memory than the peak the frames already reach.
    Process-wide (the camera worker is its own process); a no-op where libc is not glibc.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_BYTES)) and bool(mallopt(M_TRIM_THRESHOLD, TRIM_BYTES))


# glibc's mallopt parameters (malloc.h) and the sizes set: above any frame array of a 1080p
# camera at detection size, and well above the few arrays a frame keeps alive at once.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_BYTES = 32 << 20
TRIM_BYTES = 128 << 20
HEAP_KEPT = keep_freed_heap()

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
# The IR switch: the mean saturation falls at once to less than a quarter of what it was, and
# below IR_SAT_MAX (dusk only washes colours out gradually). Back to day: four times the
# night's own saturation.
IR_SAT_RATIO = 4.0
IR_SAT_MAX = 40.0
# Weather: when flicker shows in more than WEATHER_SHARE of the frame's parts (a 16x9 grid; a
# part flickers when more than WEATHER_CELL_SHARE of its steady pixels do), it is frame-wide
# (rain, snow, drizzle, a light change), not vegetation in a gust or an animal, which stay in
# a few parts. Such frames do not teach the flicker map: taught by rain, the map discounted
# the whole frame and took minutes to forget it, and the detector stayed deaf for two minutes
# after a shower.
WEATHER_SHARE = 0.25
WEATHER_GRID = (16, 9)
WEATHER_CELL_SHARE = 0.01
# Frames the weather mode lasts after the last frame-wide flicker (1 s at 5 fps): while on, a
# pixel counts as changed only if it also changed in the previous frame, which rain streaks,
# snowflakes and drizzle speckle (somewhere else every frame) never do and an animal does.
WEATHER_HOLD = 5
# Frames, after a change of conditions (weather begins or ends, a light change, the IR
# switch), during which the background learns RELEARN_ALPHA per frame instead of `alpha`: the
# new look of the scene is learnt in about a second instead of being masked for minutes.
RELEARN_FRAMES = 5
RELEARN_ALPHA = 0.3
# Contrast-adaptive threshold: the scene's fine texture (mean |grey - its blur at sigma
# TEXTURE_SIGMA|) per part of a TEXTURE_GRID, measured every TEXTURE_EVERY frames, against the
# most it has been there in clear weather. That reference forgets by TEXTURE_DECAY per
# measurement (about half in ten minutes at 5 fps), so a lasting change of the view is learnt.
# Fine texture, not the spread of grey levels: fog banks are coarse and raise the spread while
# they wash the fine texture (and an animal's contrast) out. Sensor noise is part of the
# texture, so where noise rises as the light falls (dusk) the ratio stays near 1 and the
# threshold does not fall into the noise.
TEXTURE_SIGMA = 3.0
TEXTURE_GRID = (16, 9)
TEXTURE_EVERY = 5
TEXTURE_DECAY = 0.995
# The guards that may doubt motion. Doubted motion is kept as a low-confidence event, never
# dropped: naturalists would rather review one more clip than lose an animal.
GUARDS = {
    "light_change": "a light change (lamp, lightning, cloud) re-learnt the background just before",
    "ir_switch": "the IR switch re-learnt the background just before",
    "small_blob": "smaller than min_area: a far or small animal, or leaves and noise",
}
# The confidence of motion that only doubted blobs made persist.
DOUBTED_CONFIDENCE = 0.25


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
    weather_left: int = 0  # frames of weather mode left (see WEATHER_HOLD)
    weather_share: float = 0.0  # share of the frame's parts that flickered in the last frame
    sat_ref: float | None = None  # running mean saturation of the current light regime
    last_raw: np.ndarray | None = None  # last frame's change map before the weather check
    settle: int = 0  # frames left whose motion the settle guard doubts
    settle_guard: str | None = None
    relearn_left: int = 0  # frames left learning the background at RELEARN_ALPHA
    sure_cells: np.ndarray | None = None  # like cells, counting only undoubted blobs
    ones: np.ndarray | None = None  # float32 ones and zeros of the frame's size (flicker map)
    zeros: np.ndarray | None = None
    kept: np.ndarray | None = None  # the last change map after the weather and flicker filters
    texture_ref: np.ndarray | None = None  # clear-weather fine texture per part (TEXTURE_GRID)
    threshold_map: np.ndarray | None = None  # uint8 per-pixel threshold by day, None = scalar
    texture_tick: int = 0
    light_step: np.ndarray | None = None  # where the background takes the frame at once (uint8)
    kernel: np.ndarray = field(default_factory=lambda: cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5)))

    @property
    def profile(self) -> Profile:
        """The thresholds of the current light regime."""
        return self.config.night if self.night else self.config.day

    @property
    def threshold(self) -> float:
        """The grey-level threshold of the current light regime."""
        return float(self.profile.threshold)

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
        if self.sat_ref is None:
            self.sat_ref = sat
        if self.night and sat > max(self.config.night_saturation * DAY_FACTOR, IR_SAT_RATIO * self.sat_ref):
            self.night = False
        elif not self.night and (
            sat < self.config.night_saturation or (sat < IR_SAT_MAX and sat * IR_SAT_RATIO < self.sat_ref)
        ):
            # Grey enough, or suddenly several times greyer: the IR cut filter switched.
            # (An encoded IR picture is not quite grey: dark pixels keep a little chroma.)
            self.night = True
        self.sat_ref = sat if was_night != self.night else self.sat_ref + 0.1 * (sat - self.sat_ref)
        if was_night != self.night and not resized:
            self._relearn()
        work = small if self.config.colour and not self.night else cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
        k = self.profile.blur
        if k > 1:
            work = cv2.GaussianBlur(work, (k, k), 0)
        stretch = self.profile.stretch
        if stretch > 1.0:
            mean = float(np.mean(cv2.mean(work)[: work.shape[2] if work.ndim == 3 else 1]))
            # Dim, flat pictures (IR at night) get their contrast stretched around the mean, so
            # a grey animal on grey ground still crosses the threshold.
            work = cv2.convertScaleAbs(work, alpha=stretch, beta=mean * (1 - stretch))
        self.last_work, self.work = self.work, work
        return work, resized or was_night != self.night

    def adapt_threshold(self, background: np.ndarray) -> None:
        """Lower the day threshold where fog or haze has washed the scene's texture out.

        Measured on the background model, not on the frame: an animal walking into a part of
        the frame brings its own texture and would raise the threshold against itself.
        """
        floor = self.config.contrast_floor
        if floor >= 1.0 or self.night:
            self.threshold_map = None
            return
        self.texture_tick += 1
        if self.threshold_map is not None and self.texture_tick % TEXTURE_EVERY:
            return
        g = background if background.ndim == 2 else cv2.cvtColor(background, cv2.COLOR_BGR2GRAY)
        g = g.astype(np.float32, copy=False)
        fine = cv2.absdiff(g, cv2.GaussianBlur(g, (0, 0), TEXTURE_SIGMA))
        tex = cv2.resize(fine, TEXTURE_GRID, interpolation=cv2.INTER_AREA)
        if self.texture_ref is None:
            self.texture_ref = tex
        else:
            self.texture_ref = np.maximum(self.texture_ref * TEXTURE_DECAY, tex)
        factor = np.clip(tex / np.maximum(self.texture_ref, 1e-3), floor, 1.0)
        h, w = g.shape[:2]
        full = cv2.resize(factor * float(self.profile.threshold), (w, h), interpolation=cv2.INTER_LINEAR)
        self.threshold_map = np.ceil(full).astype(np.uint8)

    def over_threshold(self, diff: np.ndarray) -> np.ndarray:
        """255 where a uint8 difference exceeds this frame's threshold (per pixel by day)."""
        if self.threshold_map is not None and self.threshold_map.shape == diff.shape[:2]:
            out: np.ndarray = cv2.compare(diff, self.threshold_map, cv2.CMP_GT)
            return out
        _, over = cv2.threshold(diff, self.threshold, 255, cv2.THRESH_BINARY)
        return over

    def set_masks(self, masks: tuple[Mask, ...]) -> None:
        """Watch the frame through new masks from the next frame on; the background and the
        flicker map learnt so far are kept (a mask only hides pixels, it changes none)."""
        self.config = self.config.model_copy(update={"masks": masks})
        if self.size is not None:
            self.keep = rasterise_masks(masks, *self.size)
            self.keep_count = max(1, int(np.count_nonzero(self.keep)))

    def _reset_size(self, size: tuple[int, int]) -> None:
        w, h = size
        self.size = size
        self.keep = rasterise_masks(self.config.masks, w, h)
        self.keep_count = max(1, int(np.count_nonzero(self.keep)))
        self.flicker = np.zeros((h, w), np.float32)
        self.work = self.last_work = None
        self.last_changed = np.zeros((h, w), np.uint8)
        self.cells = np.zeros(((h + CELL - 1) // CELL, (w + CELL - 1) // CELL), np.uint8)
        self.sure_cells = np.zeros_like(self.cells)
        self.last_raw = None
        self.weather_left = self.settle = self.relearn_left = 0
        self.last_mean = None
        self.sat_ref = None
        self.texture_ref = self.threshold_map = None
        self.seen = 0
        # Learn background and flicker before judging: a cold start in wind is all motion.
        self.cooldown = self.config.warmup_frames

    def _relearn(self) -> None:
        # A new light regime (IR on or off): the detector takes the new picture as its
        # background at once (the detector resets it) and its motion is only doubted for a
        # moment, never ignored: a fox crossing as the camera switches must still be seen.
        # The flicker map is kept: the leaves are in the same places by night.
        self._settle("ir_switch")

    def _settle(self, guard: str) -> None:
        self.settle = max(self.settle, self.config.recalibrate_frames)
        self.settle_guard = guard
        self.relearn_left = RELEARN_FRAMES

    def learning_rate(self) -> float:
        """The background's learning rate this frame: fast just after a change of conditions."""
        if self.relearn_left > 0:
            self.relearn_left -= 1
            return max(RELEARN_ALPHA, self.config.alpha)
        return self.config.alpha

    def light_jump(self, grey: np.ndarray) -> bool:
        """True when the mean brightness jumps at once (lamp, lightning, IR cut filter)."""
        m = cv2.mean(grey, mask=self.keep)
        mean = float(np.mean(m[: grey.shape[2] if grey.ndim == 3 else 1]))
        prev, self.last_mean = self.last_mean, mean
        return prev is not None and abs(mean - prev) > LIGHT_JUMP

    def _light_step(self, fresh: list[tuple[int, int, int, int]], w: int, h: int) -> None:
        """Mark for re-learning the blobs of a light step over part of the frame.

        Fog banks shifting, a cloud edge or the sun coming out over a fifth of the frame make
        many blobs at once, all over it, where nothing moved the frame before; an animal comes
        in as one or two blobs in one place. The background model takes the new picture under
        such blobs at once (`light_step`, set here, applied by the detector), so that the light
        is learnt in one frame and never persists, while an animal among them, which moves,
        differs again from the next frame on: nothing is dropped, and no threshold is raised.
        """
        parts = self.config.light_step_parts
        if parts <= 0 or len(fresh) < parts:
            return
        gw, gh = WEATHER_GRID
        where = {
            (min(gw - 1, (x + bw // 2) * gw // w), min(gh - 1, (y + bh // 2) * gh // h))
            for x, y, bw, bh in fresh
        }
        if len(where) < parts:
            return
        step = np.zeros((h, w), np.uint8)
        for x, y, bw, bh in fresh:
            step[y : y + bh, x : x + bw] = 255
        # Around the blobs the step stays below the threshold; the whole frame then re-learns
        # fast for a moment, as after any change of light, so that what is left fades within
        # the persistence rule. (Re-learning whole parts of the frame at once instead skewed the
        # light correction's ratios beside them and raised new blobs there.)
        self.relearn_left = RELEARN_FRAMES
        self.light_step = step

    def finish(self, changed: np.ndarray, recalibrate: bool) -> MotionResult:
        """From a binary change map (255 = changed) to a MotionResult, applying every filter."""
        assert self.keep is not None and self.flicker is not None and self.cells is not None
        cfg = self.config
        self.guard_fired = False
        self.light_step = None
        changed = cv2.bitwise_and(changed, self.keep)
        fraction = cv2.countNonZero(changed) / self.keep_count
        if recalibrate or fraction > cfg.recalibrate_fraction:
            # Most of the frame changed at once: light, not animals. The detector takes this
            # frame as its new background; the next few frames' motion is doubted, not ignored.
            self.guard_fired = True
            if self.settle_guard != "ir_switch" or self.settle <= 0:
                self._settle("light_change")
            self.cells[:] = 0
            assert self.sure_cells is not None
            self.sure_cells[:] = 0
            self.last_raw = None
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
            moved = cv2.bitwise_and(self.over_threshold(step), self.keep)
        else:
            moved = changed
        assert self.last_changed is not None
        hit = cv2.bitwise_or(moved, cv2.bitwise_xor(changed, self.last_changed)) > 0
        self.last_changed = changed
        flicker_limit = cfg.flicker_level
        steady: np.ndarray = (self.flicker < flicker_limit).astype(np.uint8)
        watched = (steady > 0) & (self.keep > 0)
        flick = (hit & watched).astype(np.float32)
        grid = cv2.resize(flick, WEATHER_GRID, interpolation=cv2.INTER_AREA)
        # Frame-wide: flicker in most parts of the frame (rain, snow, a light change), not a
        # few (vegetation in a gust, an animal).
        self.weather_share = float(np.count_nonzero(grid > WEATHER_CELL_SHARE)) / grid.size
        weather = self.weather_share > WEATHER_SHARE
        was_weather = self.weather_left > 0
        if weather and self.cooldown <= 0:
            # Frame-wide flicker: weather or light, not vegetation. Do not teach the map.
            self.weather_left = WEATHER_HOLD
        else:
            if self.weather_left > 0:
                self.weather_left -= 1
            # In place, with OpenCV: f += up (1 - f) where hit, f *= 1 - down elsewhere (NumPy's
            # np.where made four full-frame float temporaries a frame).
            hit_u8 = hit.view(np.uint8)
            if self.ones is None or self.ones.shape != self.flicker.shape:
                self.ones, self.zeros = np.ones_like(self.flicker), np.zeros_like(self.flicker)
            assert self.zeros is not None
            cv2.accumulateWeighted(self.ones, self.flicker, up, mask=hit_u8)
            cv2.accumulateWeighted(self.zeros, self.flicker, down, mask=1 - hit_u8)
            steady = (self.flicker < flicker_limit).astype(np.uint8)
        if was_weather != (self.weather_left > 0):
            # Rain began or stopped: learn the new look of the scene quickly.
            self.relearn_left = RELEARN_FRAMES
        raw = changed
        if self.weather_left > 0 and self.last_raw is not None:
            # Rain streaks, flakes and speckle are somewhere else every frame; an animal
            # overlaps itself from one frame to the next.
            changed = cv2.bitwise_and(changed, self.last_raw)
        self.last_raw = raw
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
        self.kept = changed  # what passed every pixel filter (bench/motion.py --quick reads it)
        assert self.sure_cells is not None
        if self.cooldown > 0:
            # Start-up only (no change of conditions): learn before judging.
            self.cooldown -= 1
            self.cells[:] = 0
            self.sure_cells[:] = 0
            return MotionResult(0.0, (), False, True, self.night)
        settle_guard = None
        if self.settle > 0:
            self.settle -= 1
            settle_guard = self.settle_guard
        # Dilation only groups nearby changed pixels into one blob; a blob's size is the count
        # of pixels that really changed in it. Measured on the dilated shape, a single stray
        # pixel grows to ~80 px and passes for an animal (leaf speckle, rain, noise).
        n, labels = 1, None
        stats: np.ndarray = np.zeros((1, 5), np.int32)
        if cv2.countNonZero(changed):  # a still frame (most of them) has no blob to label
            grouped = cv2.dilate(changed, self.kernel, iterations=2)
            n, labels, stats, _ = cv2.connectedComponentsWithStats(grouped, connectivity=8)
        moving = changed > 0
        real = np.bincount(labels[moving], minlength=n) if labels is not None else np.zeros(1, np.int64)
        glare = np.zeros(n, np.int64)
        near = np.zeros(n, np.int64)
        if halo is not None and labels is not None:
            near = np.bincount(labels[moving & halo], minlength=n)
        if self.night and self.work is not None and self.work.ndim == 2 and labels is not None:
            # A moth or midge close to the lens is lit white by the IR lamp: a blob whose
            # changed pixels are largely near white is an insect, not an animal (whose eyeshine
            # is only a few pixels of its blob).
            glare = np.bincount(labels[moving & (self.work >= INSECT_GREY)], minlength=n)
        w, h = self.size or (1, 1)
        min_px = self.profile.min_area * w * h
        # Smaller blobs down to this size are kept, doubted: a far hare or a camouflaged animal
        # shows only a few changed pixels, and losing it is worse than reviewing noise.
        small_px = cfg.small_blob_fraction * min_px
        boxes: list[Box] = []
        area = 0
        hot = np.zeros(self.cells.shape, np.uint8)
        sure = np.zeros(self.cells.shape, np.uint8)
        doubt: dict[str, int] = {}
        # Persistence counts of the last frame, each cell taking the best of its neighbours.
        best_near = cv2.dilate(self.cells, np.ones((3, 3), np.uint8))
        fresh: list[tuple[int, int, int, int]] = []  # blobs where nothing moved last frame
        for i in range(1, n):
            if real[i] < small_px:
                continue
            if glare[i] > INSECT_SHARE * real[i] and real[i] < INSECT_AREA * w * h:
                continue
            if near[i] > HALO_SHARE * real[i]:
                # Almost all of it hugs swaying vegetation: a branch beyond its usual swing.
                # (A guard of the scene's geometry, not of weather or light: it never makes
                # the detector deaf after a change, so it still drops the blob.)
                continue
            guard = settle_guard or ("small_blob" if real[i] < min_px else None)
            x, y, bw, bh = (int(v) for v in stats[i, :4])
            area += int(real[i])
            boxes.append(Box(x / w, y / h, bw / w, bh / h))
            cells = (slice(y // CELL, (y + bh - 1) // CELL + 1), slice(x // CELL, (x + bw - 1) // CELL + 1))
            hot[cells] = 1
            if not best_near[cells].any():
                fresh.append((x, y, bw, bh))
            if guard is None:
                sure[cells] = 1
            else:
                doubt[guard] = doubt.get(guard, 0) + int(real[i])
        # Persistence: a hot cell takes the best count of its neighbourhood plus one, so a
        # moving animal keeps counting while random flicker keeps restarting at one. Undoubted
        # blobs keep their own count: motion they make persist is sure, the rest is doubted.
        self._light_step(fresh, w, h)
        self.cells = np.where(hot > 0, np.minimum(best_near, 254) + 1, 0).astype(np.uint8)
        sure_near = cv2.dilate(self.sure_cells, np.ones((3, 3), np.uint8))
        self.sure_cells = np.where(sure > 0, np.minimum(sure_near, 254) + 1, 0).astype(np.uint8)
        need = self.profile.persistence_frames
        confident = bool(self.sure_cells.size) and int(self.sure_cells.max()) >= need
        # Doubted motion must persist longer (doubt_extra_frames): what only a guard doubts
        # (sparkle, rain, small leaf blobs) persists a few frames and stops.
        doubted_need = need + cfg.doubt_extra_frames
        motion = confident or (bool(self.cells.size) and int(self.cells.max()) >= doubted_need)
        confidence, guard_name = 1.0, None
        if motion and not confident:
            confidence = DOUBTED_CONFIDENCE
            guard_name = max(doubt, key=lambda g: doubt[g]) if doubt else self.settle_guard
        score = min(1.0, area / self.keep_count)
        return MotionResult(score, tuple(boxes), motion, False, self.night, confidence, guard_name)

"""Detection masks: polygons in normalised coordinates (0..1, top-left origin) whose pixels the
motion detector ignores.

Shared because two services handle them: the API checks the polygons an admin draws on a
camera's current view, and the camera worker rasterises them (camera.detect.common). Both must
accept and refuse the same polygons, so the one model lives here.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

# At most this many masks per camera (camera.config.MotionConfig.masks).
MAX_MASKS = 32
# At most this many points per polygon: the self-intersection check is quadratic.
MAX_POINTS = 256

Point = tuple[float, float]


def _segments_cross(a: Point, b: Point, c: Point, d: Point) -> bool:
    """True when segment ab strictly crosses segment cd (shared end points do not count)."""

    def orient(p: Point, q: Point, r: Point) -> float:
        return (q[0] - p[0]) * (r[1] - p[1]) - (q[1] - p[1]) * (r[0] - p[0])

    d1, d2 = orient(c, d, a), orient(c, d, b)
    d3, d4 = orient(a, b, c), orient(a, b, d)
    return d1 * d2 < 0 and d3 * d4 < 0


class Mask(BaseModel):
    """A polygon in normalised coordinates (0..1, top-left origin) whose pixels are ignored."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Bounded: the self-intersection check is quadratic in the number of points.
    points: tuple[Point, ...] = Field(max_length=MAX_POINTS)

    @field_validator("points")
    @classmethod
    def _valid_polygon(cls, points: tuple[Point, ...]) -> tuple[Point, ...]:
        if len(points) < 3:
            raise ValueError(f"un masque doit avoir au moins 3 points (reçu {len(points)})")
        for i, (x, y) in enumerate(points):
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(
                    f"le point {i} ({x}, {y}) du masque sort de l'image : "
                    "les coordonnées sont normalisées entre 0 et 1"
                )
        n = len(points)
        edges = [(points[i], points[(i + 1) % n]) for i in range(n)]
        for i in range(n):
            for j in range(i + 2, n):
                if i == 0 and j == n - 1:
                    continue  # adjacent through the closing edge
                if _segments_cross(*edges[i], *edges[j]):
                    raise ValueError(f"le masque se croise lui-même (côtés {i} et {j})")
        return points

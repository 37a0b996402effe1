"""Where a camera's current view is: the camera worker writes its latest frame there (a small
JPEG, a few times a minute at most) and the API serves it to the admin page that draws masks.

Both sides take the path from here. It is made from the camera id only, which the id pattern
keeps to lowercase letters, digits and '-': nothing a request sends becomes a path.
"""

from __future__ import annotations

import re
from pathlib import Path

VIEW_FILE = "current.jpg"
# Longest side of the current view, in pixels: enough to draw masks on, small to send.
VIEW_MAX_SIDE = 960
_CAMERA_ID = re.compile(r"^[a-z0-9][a-z0-9-]{1,62}$")


def view_relative(camera_id: str) -> str:
    """The view's path relative to the media directory; ValueError for an id that is not one."""
    if not _CAMERA_ID.match(camera_id):
        raise ValueError(f"identifiant de caméra invalide : {camera_id[:80]!r}")
    return f"{camera_id}/{VIEW_FILE}"


def view_path(media_dir: Path, camera_id: str) -> Path:
    """The view's file under the media directory."""
    return media_dir / view_relative(camera_id)

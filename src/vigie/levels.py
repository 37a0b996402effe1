"""Alert level names, ranks and their French words and colours: one table for every service."""

from __future__ import annotations

from typing import Literal

Level = Literal["yellow", "orange", "red"]

LEVELS: tuple[Level, ...] = ("yellow", "orange", "red")
# 1 = least severe; a higher rank escalates. Unknown levels rank 0 where callers need a default.
RANK: dict[str, int] = {level: i + 1 for i, level in enumerate(LEVELS)}
LEVEL_FR: dict[str, str] = {"yellow": "jaune", "orange": "orange", "red": "rouge"}
# Vigilance colours as the pages and messages show them.
COLOUR: dict[str, str] = {"yellow": "#f5c400", "orange": "#f08a00", "red": "#d40000"}

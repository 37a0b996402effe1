"""Boot entry point on the ESP32: the board, then the gauge's main loop (gauge.py)."""

import json

import gauge
from hal_esp32 import Board

with open("/config.json") as f:
    _cfg = json.load(f)
gauge.main(Board(_cfg, root=""), root="/")

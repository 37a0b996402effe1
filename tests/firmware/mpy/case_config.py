# The config topic's payloads, good and hostile, through config.apply_remote under MicroPython.
import json

import config

data = json.load(open("input.json"))
out = []
for body in data["bodies"]:
    cfg = dict(config.DEFAULTS)
    try:
        changed = config.apply_remote(cfg, body)
        out.append({"ok": sorted(changed), "cfg": {k: cfg[k] for k in config.REMOTE}})
    except ValueError as e:
        out.append({"error": str(e), "unchanged": cfg == config.DEFAULTS})
print(json.dumps(out))

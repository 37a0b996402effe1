# Encode readings with the firmware's payload.py (and LoRa frames with lora.py) under MicroPython.
import binascii
import json

import lora
import payload

data = json.load(open("input.json"))
out = []
for r in data["readings"]:
    out.append(payload.encode(payload.reading(**r)))
frames = [binascii.hexlify(lora.frame(**f)).decode() for f in data.get("frames", [])]
print(json.dumps({"encoded": out, "frames": frames}))

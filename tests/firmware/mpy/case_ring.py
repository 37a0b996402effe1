# The ring buffer on a real littlefs whose block device loses power mid-write.
import json

import simboard
from storeforward import RingStore

data = json.load(open("input.json"))
results = []
flash = simboard.Flash(blocks=256)
simboard.mount(flash)
path = "/flash/r.ring"
store = RingStore(path, capacity=data["capacity"], slot=64)
for i in range(data["prefill"]):
    store.push("r%d" % i, {"seq": i})
k = 0
while True:
    before = [bytes(d).decode() for _, d in store.peek()]
    flash.fail_in = k
    cut = False
    try:
        store.push("r%d" % (data["prefill"] + k), {"seq": data["prefill"] + k})
    except simboard.PowerCut:
        cut = True
    flash.fail_in = None
    simboard.mount(flash)  # the reboot: littlefs recovers from the torn block
    store = RingStore(path, capacity=data["capacity"], slot=64)
    after = [None if d is None else bytes(d).decode() for _, d in store.peek()]
    results.append({"k": k, "cut": cut, "before": before, "after": after,
                    "seq": store.meta.get("seq"), "dropped": store.dropped})
    if not cut:
        break
    k += 1
# Full buffer: keep the newest, count the dropped.
full = RingStore("/flash/full.ring", capacity=data["capacity"], slot=64)
for i in range(data["capacity"] * 3 + 1):
    full.push("f%d" % i)
again = RingStore("/flash/full.ring", capacity=data["capacity"], slot=64)
print(json.dumps({"cuts": results, "full": [bytes(d).decode() for _, d in again.peek()],
                  "full_dropped": again.dropped}))

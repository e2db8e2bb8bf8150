"""Puts from Python (issue 33): 10M floats as a list through JSON text (the
path before), as a list built straight from the objects, and as a numpy
array (one block); a list of 1M small dataclass records. Each in a fresh
interpreter: wall time and the process's peak RSS beyond the data's own
(the interpreter with the data built, measured before the put).

    PYTHONPATH=bazel-bin/python/pkg /usr/bin/python3 bench/python_put_bench.py OUT.json
"""

import json
import os
import subprocess
import sys
import tempfile

TINY = os.environ.get("ANCIENT_BENCH_SCALE") == "tiny"
N = 100_000 if TINY else 10_000_000
RECORDS = 10_000 if TINY else 1_000_000

CHILD = r'''
import json, resource, sys, time, dataclasses
import numpy as np
import ancient
how, path, n, records = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

@dataclasses.dataclass
class P:
    x: float
    y: float
    id: "i32"

if how == "records":
    data = [P(float(i), -float(i), i) for i in range(records)]
    t = "vector<P> struct P { f64 x; f64 y; i32 id; }"
elif how == "numpy":
    data = np.arange(n, dtype=np.float64) * 0.5
    t = "vector<f64>"
else:
    data = [i * 0.5 for i in range(n)]
    t = "vector<f64>"
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
s = ancient.open(path, readonly=False, create=True)
start = time.perf_counter()
if how == "json":
    s._put("k", json.dumps(data), ancient.type_description(t))
else:
    s.put("k", data, type=t)
secs = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": secs, "extra_peak_mib": (peak - before) / 1024,
                  "store_mib": s.stats()["bytes_live"] / 2**20}))
'''


def main():
    out = sys.argv[1]
    results = {"n_floats": N, "n_records": RECORDS}
    for how in ("json", "list", "numpy", "records"):
        runs = []
        for _ in range(3):
            with tempfile.TemporaryDirectory() as tmp:
                r = subprocess.run([sys.executable, "-c", CHILD, how,
                                    os.path.join(tmp, "s"), str(N),
                                    str(RECORDS)], check=True,
                                   capture_output=True, text=True)
                runs.append(json.loads(r.stdout))
        results[how] = runs
        secs = sorted(x["seconds"] for x in runs)
        print(f"{how:8s} {secs[1]:.2f} s (runs {secs[0]:.2f}-{secs[-1]:.2f}), "
              f"peak +{max(x['extra_peak_mib'] for x in runs):.0f} MiB, "
              f"store {runs[0]['store_mib']:.0f} MiB", file=sys.stderr)
    with open(out, "w") as f:
        json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()

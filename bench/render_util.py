"""Helpers of bench/render.py: reading tools/bench's results, formatting
figures, drawing charts with gnuplot."""
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RES = os.path.join(ROOT, "bench", "results")


def load_gbench(name):
    """Each benchmark's figures by name: with --benchmark_repetitions, the
    median of its repetitions (the first one of a run that writes a file
    often pays for the file's creation, so the last is no better a pick)."""
    with open(os.path.join(RES, name)) as f:
        data = json.load(f)
    runs = {}
    for b in data["benchmarks"]:
        if b.get("run_type") == "aggregate":
            continue
        runs.setdefault(b.get("run_name", b["name"]), []).append(b)
    out = {}
    for run_name, bs in runs.items():
        unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}[bs[0]["time_unit"]]

        def mid(key):
            values = [b[key] for b in bs if b.get(key) is not None]
            return median(values) if values else None

        times = [b["real_time"] * unit for b in bs]
        out[run_name] = {
            "s": median(times),
            "runs": len(bs),
            "bps": mid("bytes_per_second"),
            "ips": mid("items_per_second"),
            "raw": bs[0],  # with the benchmark's own counters
        }
    return out, data.get("context", {})


def load_lines(name):
    rows = []
    with open(os.path.join(RES, name)) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                rows.append(json.loads(line))
    return rows


def fmt_range(values, fmt):
    """min–max of the runs (one value when they agree or there is one)."""
    lo, hi = min(values), max(values)
    return fmt(lo) if fmt(lo) == fmt(hi) else "%s–%s" % (fmt(lo), fmt(hi))


def fmt_mib(b):
    return "%.2f MiB" % (b / 1048576.0) if b < 100 * 1048576 else "%.0f MiB" % (b / 1048576.0)


def median(values):
    v = sorted(values)
    return v[len(v) // 2] if len(v) % 2 else (v[len(v) // 2 - 1] + v[len(v) // 2]) / 2


def fmt_time(s):
    if s is None:
        return "n/a"
    if s >= 1:
        return "%.2f s" % s
    if s >= 1e-3:
        return "%.2f ms" % (s * 1e3)
    if s >= 1e-6:
        return "%.1f µs" % (s * 1e6)
    return "%.0f ns" % (s * 1e9)


def verdict(ok):
    return "**met**" if ok else "**missed**"


def chart(png, title, ylabel, rows, log=False):
    """A bar chart of (label, value) rows."""
    dat = png.replace(".png", ".dat")
    with open(dat, "w") as f:
        for label, value in rows:
            f.write('"%s" %g\n' % (label, value))
    script = f"""
set terminal pngcairo size 900,420 font "sans,10"
set output "{png}"
set title "{title}"
set ylabel "{ylabel}"
set style fill solid 0.8 border -1
set boxwidth 0.6
set grid ytics
set xtics rotate by -30
{"set logscale y" if log else ""}
unset key
plot "{dat}" using 0:2:xtic(1) with boxes lc rgb "#3b6ea8"
"""
    try:
        subprocess.run(["gnuplot"], input=script, text=True, check=True)
    except (OSError, subprocess.CalledProcessError) as e:
        print("render: gnuplot failed for %s: %s" % (png, e), file=sys.stderr)
    os.remove(dat)

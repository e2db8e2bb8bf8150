"""examples/torch_loader.py: a DataLoader with 8 forked workers over a
store root written from Python, iterated to the end; every sample arrives
once and equals the source (the example checks each batch), beside the
same Dataset over Python lists and over a numpy array."""

import json
import os
import subprocess
import sys

EXAMPLE = os.path.join(os.path.dirname(__file__), "..", "..", "examples",
                       "torch_loader.py")


def test_torch_loader_example_reads_every_sample_once(tmp_path):
    out = tmp_path / "r.json"
    r = subprocess.run([sys.executable, EXAMPLE, "--samples", "3000",
                        "--workers", "8", "--batch", "64", "--json",
                        str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    res = json.loads(out.read_text())
    for name in ("ancient", "list", "numpy", "empty"):
        assert len(res[name]["worker_private_kib"]) == 8
        assert res[name]["samples_per_s"] > 0
    assert "ancient" in r.stdout and "beyond an empty worker" in r.stdout

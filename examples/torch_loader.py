"""A PyTorch Dataset over an ancient store root, read by a DataLoader with
forked workers: every worker indexes the same mapped pages, none copies the
data set (a Dataset of Python lists is copied into each worker page by
page as reading it writes reference counts: PyTorch issue #13246).

    python3 examples/torch_loader.py [--samples N] [--workers W]
        [--features F] [--batch B] [--json OUT]

Writes a store of N samples (struct Sample { vector<f32> features; i64
label; }) from Python alone, then iterates a DataLoader over it to the end,
and the same over a Dataset of Python lists and one of a numpy array loaded
from a .npy file. Prints, for each, samples per second and each worker's
private memory (Private_Clean + Private_Dirty of /proc/PID/smaps_rollup)
beyond that of a worker of a Dataset that reads nothing. Every sample is
checked against the source (each index delivered once, features equal).
"""

import argparse
import dataclasses
import json
import os
import sys
import tempfile
import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

import ancient


@dataclasses.dataclass
class Sample:
    features: "vector<f32>"
    label: int


class StoreDataset(Dataset):
    """Samples of a store root (a vector of Sample). The view is made in
    the parent; forked workers index it in place."""

    def __init__(self, path, key):
        self.store = ancient.open(path)
        self.rows = self.store[key]

    def __len__(self):
        return len(self.rows)

    def __getitem__(self, i):
        row = self.rows[i]
        # The features' floats are copied once, into the sample's tensor.
        return torch.tensor(np.asarray(row.features)), row.label, i


class ListDataset(Dataset):
    """The same samples as Python lists."""

    def __init__(self, features, labels):
        self.features = features.tolist()
        self.labels = labels.tolist()

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return torch.tensor(self.features[i]), self.labels[i], i


class NumpyDataset(Dataset):
    """The same samples as a numpy array loaded from a .npy file."""

    def __init__(self, features_path, labels):
        self.features = np.load(features_path)
        self.labels = labels

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return torch.tensor(self.features[i]), int(self.labels[i]), i


class EmptyDataset(Dataset):
    """Reads nothing: what a worker costs with no data set."""

    def __init__(self, n, f):
        self.n, self.f = n, f
        self.zeros = torch.zeros(f)

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return self.zeros, 0, i


def private_kib(pid):
    with open(f"/proc/{pid}/smaps_rollup") as f:
        return sum(int(line.split()[1]) for line in f
                   if line.startswith(("Private_Clean:", "Private_Dirty:")))


def _record_pid(pids):
    def init(worker_id):
        pids[worker_id] = os.getpid()
    return init


def run(dataset, workers, batch, check=None):
    """Iterates a DataLoader over `dataset` to the end; returns samples per
    second and each worker's private KiB after the run."""
    pids = torch.multiprocessing.Array("i", workers)
    loader = DataLoader(dataset, batch_size=batch, num_workers=workers,
                        shuffle=True, persistent_workers=True,
                        multiprocessing_context="fork",
                        worker_init_fn=_record_pid(pids),
                        generator=torch.Generator().manual_seed(1))
    seen = np.zeros(len(dataset), dtype=np.int32)
    start = time.perf_counter()
    for features, labels, idx in loader:
        seen[idx.numpy()] += 1
        if check is not None:
            check(features, labels, idx)
    seconds = time.perf_counter() - start
    if not (seen == 1).all():
        raise AssertionError(f"{type(dataset).__name__}: samples delivered "
                             f"{seen.min()}..{seen.max()} times, not once")
    kib = [private_kib(p) for p in pids]
    del loader  # the persistent workers exit
    return len(dataset) / seconds, kib


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--samples", type=int, default=200_000)
    ap.add_argument("--features", type=int, default=64)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--json", help="write the results here as JSON")
    args = ap.parse_args(argv)

    rng = np.random.default_rng(7)
    features = rng.random((args.samples, args.features), dtype=np.float32)
    labels = rng.integers(0, 1000, args.samples)

    def check(f, lab, idx):
        i = idx.numpy()
        if not np.array_equal(f.numpy(), features[i]) or \
                not np.array_equal(lab.numpy(), labels[i]):
            raise AssertionError(f"samples {i[:4]}... differ from the source")

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "store")
        t = time.perf_counter()
        with ancient.open(path, readonly=False, create=True) as s:
            # Each row of the numpy array goes in as one block.
            s.put("train", [Sample(features[i], int(labels[i]))
                            for i in range(args.samples)], type=list[Sample])
        put_s = time.perf_counter() - t
        np.save(os.path.join(tmp, "features.npy"), features)
        results = {"torch": torch.__version__,
                   "samples": args.samples, "features": args.features,
                   "workers": args.workers, "batch": args.batch,
                   "put_s": put_s}
        runs = [
            ("empty", lambda: EmptyDataset(args.samples, args.features),
             None),
            ("ancient", lambda: StoreDataset(path, "train"), check),
            ("list", lambda: ListDataset(features, labels), check),
            ("numpy", lambda: NumpyDataset(
                os.path.join(tmp, "features.npy"), labels), check),
        ]
        for name, make, chk in runs:
            rate, kib = run(make(), args.workers, args.batch, chk)
            results[name] = {"samples_per_s": rate, "worker_private_kib": kib}
    base = max(results["empty"]["worker_private_kib"])
    for name in ("ancient", "list", "numpy"):
        r = results[name]
        r["beyond_empty_kib"] = [k - base for k in r["worker_private_kib"]]
        print(f"{name:8s} {r['samples_per_s']:10.0f} samples/s; each worker "
              f"{min(r['beyond_empty_kib']) / 1024:.1f}-"
              f"{max(r['beyond_empty_kib']) / 1024:.1f} MiB beyond an empty "
              "worker's")
    print(f"put of {args.samples} samples from Python: {put_s:.2f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""The data-loader pattern with ancient: a parent process opens a store and
forks workers that read a big root in place. No worker copies the data:
the pages are the page cache's, shared by all; reading a view writes no
reference count in the data (compare a dataset held as Python lists, which
each worker copies page by page: PyTorch issue #13246).

    python3 examples/loader.py STORE KEY [WORKERS]

STORE holds at KEY a vector of numbers or a map (written by C++, by
`ancientctl put`, or by ancient.Store.put). Each worker sums its share of
the elements and prints how much private memory it used.
"""

import os
import sys

import ancient


def private_kib():
    with open("/proc/self/smaps_rollup") as f:
        return sum(int(line.split()[1]) for line in f
                   if line.startswith(("Private_Clean:", "Private_Dirty:")))


class Dataset:
    """What a torch.utils.data.Dataset over a store looks like: the view
    is made once in the parent; forked workers index it."""

    def __init__(self, path, key):
        self.store = ancient.open(path)
        self.data = self.store[key]

    def __len__(self):
        return len(self.data)

    def __getitem__(self, i):
        return self.data[i]


def main():
    if len(sys.argv) < 3:
        print("usage: loader.py STORE KEY [WORKERS]", file=sys.stderr)
        return 2
    ds = Dataset(sys.argv[1], sys.argv[2])
    workers = int(sys.argv[3]) if len(sys.argv) > 3 else 4
    pids = []
    for w in range(workers):
        pid = os.fork()
        if pid == 0:
            before = private_kib()
            total = sum(ds[i] for i in range(w, len(ds), workers))
            line = (f"worker {w}: sum {total}, private memory "
                    f"+{private_kib() - before} KiB\n")
            os.write(1, line.encode())  # one write: lines never interleave
            os._exit(0)
        pids.append(pid)
    ok = all(os.waitpid(p, 0)[1] == 0 for p in pids)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

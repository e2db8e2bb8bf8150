"""The Python module against what Python users have (issue 19), one run:
per-access costs beside a dict/list holding the same data, py-lmdb get
(+ decoding) and marisa-trie; time to first read in a fresh interpreter
against pickle.load; private memory of forked workers.

    PYTHONPATH=bazel-bin/python/pkg /usr/bin/python3 bench/python_bench.py \
        FIXTURE_BINARY OUT.json

(tools/bench runs it.) ANCIENT_BENCH_SCALE=tiny shrinks the data.
"""

import json
import os
import pickle
import random
import struct
import subprocess
import sys
import tempfile
import time

import lmdb
import marisa
import numpy

import ancient

TINY = os.environ.get("ANCIENT_BENCH_SCALE") == "tiny"
MAP_N = 20_000 if TINY else 4_000_000
BIG_N = 100_000 if TINY else 10_000_000
OPS = 20_000 if TINY else 300_000


def per_op(fn, ops=OPS, reps=3):
    """Best of `reps` runs of fn() (which does `ops` operations), in ns."""
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best / ops * 1e9


def private_kib():
    with open("/proc/self/smaps_rollup") as f:
        return sum(int(line.split()[1]) for line in f
                   if line.startswith(("Private_Clean:", "Private_Dirty:")))


def fork_growth(walk, workers):
    pids = []
    for _ in range(workers):
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            before = private_kib()
            walk()
            os.write(w, str(private_kib() - before).encode())
            os._exit(0)
        os.close(w)
        pids.append((pid, r))
    out = []
    for pid, r in pids:
        out.append(int(os.read(r, 100)))
        os.close(r)
        os.waitpid(pid, 0)
    return out


def first_read(code, runs=5):
    """Seconds a fresh interpreter spends from before its first import to
    after its first read (timed inside it: the interpreter's own start-up,
    which varies more than these figures, is left out), median of `runs`."""
    timed = ("import time; _t = time.perf_counter(); %s; "
             "print(time.perf_counter() - _t)" % code)
    out = sorted(float(subprocess.run(
        [sys.executable, "-c", timed], check=True, env=os.environ,
        capture_output=True, text=True).stdout) for _ in range(runs))
    return out[len(out) // 2]


def main():
    fixture, out_path = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="ancient-pybench.")
    d = os.path.join(tmp, "s")
    subprocess.run([fixture, d, str(BIG_N), str(MAP_N)], check=True)
    res = {"map_entries": MAP_N, "big_elements": BIG_N}
    store = ancient.open(d)
    rng = random.Random(1)
    keys = ["key%d" % rng.randrange(MAP_N) for _ in range(OPS)]
    bigmap = store["bigmap"]
    words_view = store["words"]
    words = list(words_view.keys())
    wkeys = [words[rng.randrange(len(words))] for _ in range(OPS)]
    cities = store["cities"]
    lisbon = cities["Lisbon"]
    big = store["big"]
    idx = [rng.randrange(BIG_N) for _ in range(OPS)]

    # Peers, holding the same data.
    pydict = {"key%d" % i: i for i in range(MAP_N)}
    pywords = {w: i for i, w in enumerate(words)}
    pylist = list(range(BIG_N))
    env = lmdb.open(os.path.join(tmp, "lmdb"), map_size=1 << 34,
                    writemap=True, sync=False)
    with env.begin(write=True) as txn:
        for i in range(MAP_N):
            txn.put(b"key%d" % i, struct.pack("<q", i))
    bkeys = [k.encode() for k in keys]
    keyset = marisa.Keyset()
    for w in words:
        keyset.push_back(w)
    trie = marisa.Trie()
    trie.build(keyset)
    agent = marisa.Agent()

    def marisa_get(k):
        agent.set_query(k)
        return agent.key_id() if trie.lookup(agent) else None

    r = {}
    # Root lookups as users call them: one key again and again, each side
    # (issue 33: over 4M different keys, py-lmdb's B-tree misses the cache
    # and looked slow beside ancient's one hot key; both are kept).
    r["root_lookup_ancient"] = per_op(
        lambda: [store["cities"] for _ in range(OPS)])
    # What the first lookup after a commit costs (no view of that version
    # kept yet): a snapshot's lookups, which make a new view every time.
    with store.snapshot() as snap:
        r["root_lookup_ancient_uncached"] = per_op(
            lambda: [snap["cities"] for _ in range(OPS)])
    k0 = bkeys[0]

    def with_txn():
        for _ in range(OPS):
            with env.begin() as t:
                struct.unpack("<q", t.get(k0))[0]

    r["get_pylmdb_with_txn"] = per_op(with_txn)
    r["get_pylmdb_new_txn"] = per_op(
        lambda: [struct.unpack("<q", env.begin().get(k0))[0]
                 for _ in range(OPS)])
    with env.begin() as txn:
        r["get_pylmdb_open_txn"] = per_op(
            lambda: [struct.unpack("<q", txn.get(k0))[0] for _ in range(OPS)])
    r["get_pylmdb_new_txn_4m_keys"] = per_op(
        lambda: [struct.unpack("<q", env.begin().get(k))[0] for k in bkeys])
    r["struct_field_ancient"] = per_op(
        lambda: [lisbon.population for _ in range(OPS)])
    plain = ancient.to_python(lisbon)
    r["struct_field_dict"] = per_op(
        lambda: [plain["population"] for _ in range(OPS)])
    r["vector_index_ancient"] = per_op(lambda: [big[i] for i in idx])
    r["vector_index_list"] = per_op(lambda: [pylist[i] for i in idx])
    r["map_lookup_ancient_4m"] = per_op(lambda: [bigmap[k] for k in keys])
    r["map_lookup_dict_4m"] = per_op(lambda: [pydict[k] for k in keys])
    r["word_lookup_ancient"] = per_op(lambda: [words_view[k] for k in wkeys])
    r["word_lookup_dict"] = per_op(lambda: [pywords[k] for k in wkeys])
    r["word_lookup_marisa"] = per_op(lambda: [marisa_get(k) for k in wkeys])
    n = min(BIG_N, 1_000_000)
    r["iterate_ancient"] = per_op(lambda: sum(big[:n]), ops=n)
    r["iterate_list"] = per_op(lambda: sum(pylist[:n]), ops=n)
    r["numpy_sum_ancient"] = per_op(lambda: numpy.asarray(big).sum(), ops=BIG_N)
    res["per_op_ns"] = r

    # Time to first read: a fresh interpreter opening the store and reading
    # one element, against one unpickling a list of the same numbers.
    ftr = {}
    for label, count in (("1MiB", 131_072), ("big", BIG_N)):
        pk = os.path.join(tmp, label + ".pickle")
        with open(pk, "wb") as f:
            pickle.dump(list(range(count)), f, protocol=pickle.HIGHEST_PROTOCOL)
        dd = os.path.join(tmp, label)
        subprocess.run([fixture, dd, str(count)], check=True)
        ftr[label] = {
            "elements": count,
            "pickle_bytes": os.path.getsize(pk),
            "ancient_s": first_read(
                "import ancient; ancient.open(%r)['big'][%d]" % (dd, count - 1)),
            "pickle_s": first_read(
                "import pickle; pickle.load(open(%r, 'rb'))[%d]" % (pk, count - 1)),
        }
    res["first_read"] = ftr

    # Private memory of 16 forked workers, each iterating all of `big`.
    numpy.asarray(big).sum()  # the parent maps the pages, as a loader's does
    res["fork16_view_kib"] = fork_growth(lambda: sum(big), 16)
    res["fork16_list_kib"] = fork_growth(lambda: sum(pylist), 16)
    store.close()
    with open(out_path, "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res, indent=1))
    subprocess.run(["rm", "-rf", tmp], check=True)


if __name__ == "__main__":
    main()

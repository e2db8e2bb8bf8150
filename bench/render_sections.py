"""The sections of BENCHMARKS.md after the targets and the main tables (see
bench/render.py): many hosts and versions, writes on every core, the scaled
run, JSON by schema and conversion, Python."""
import json
import os

from render_util import (RES, fmt_mib, fmt_range, fmt_time, load_gbench,
                         load_lines, median, verdict)


def render_deltas(add, deltas, sharded):
    """The delta table (replica_bench: publish/follow after k of n roots
    changed, beside rsync) and the sharded map's figures."""
    first = [o for o in deltas if o["k"] == -1]
    n = deltas[0]["n"]
    runs = len(first)
    add("## Versions move only what changed\n")
    add("`replica_bench`: a store of %d roots (vectors of 100-byte strings), "
        "%.0f MiB on disk; a version is %s of objects. Each row changes k "
        "roots in the source store, publishes, and follows on one host; "
        "`rsync -a --checksum --no-whole-file` (Debian's rsync 3, the "
        "classic delta transfer) then brings a copy of the source store's "
        "directory, as of the version before, up to date (its *literal data*: "
        "the bytes it had to send). *Whole copy* is what each version moved "
        "before objects: the compacted store, every time. %d runs: times are "
        "min–max; bytes are the same in every run.\n"
        % (n, first[0]["store_mib"], fmt_mib(first[0]["version_bytes"]), runs))
    add("| k of %d roots changed | publish: written | time | follow: fetched | time "
        "| rsync: literal data | time | whole copy |" % n)
    add("|---|---|---|---|---|---|---|---|")
    add("| all (first version) | %s | %s | %s | %s | (`cp -r` + sync: %s) | | %s |"
        % (fmt_mib(first[0]["written"]),
           fmt_range([o["publish_s"] for o in first], fmt_time),
           fmt_mib(first[0]["fetched"]),
           fmt_range([o["follow_s"] for o in first], fmt_time),
           fmt_range([o["cp_s"] for o in first], fmt_time),
           fmt_mib(first[0]["version_bytes"])))
    ks = []
    for o in deltas:
        if o["k"] >= 0 and o["k"] not in ks:
            ks.append(o["k"])
    for k in ks:
        rows = [o for o in deltas if o["k"] == k]
        r = rows[0]
        add("| %d | %s + manifest %s | %s | %s | %s | %s | %s | %s |"
            % (k, fmt_mib(r["written"]), fmt_mib(r.get("manifest", 0)),
               fmt_range([o["publish_s"] for o in rows], fmt_time),
               fmt_mib(r["fetched"]),
               fmt_range([o["follow_s"] for o in rows], fmt_time),
               fmt_mib(r["rsync_literal"]),
               fmt_range([o["rsync_s"] for o in rows], fmt_time),
               fmt_mib(r["version_bytes"])))
    one = [o for o in deltas if o["k"] == 1][0]
    root_bytes = first[0]["version_bytes"] / n
    add("")
    add("One root changed: %s moved (the root's object, %s, plus the "
        "manifest), %.3f%% of the store beyond the root's own bytes (target "
        "<= 1%%: met); rsync sent %s but read and checksummed both copies of "
        "the whole store to find it.\n"
        % (fmt_mib(one["written"] + one.get("manifest", 0)), fmt_mib(one["written"]),
           100.0 * max(0, one["written"] + one.get("manifest", 0) - root_bytes)
           / first[0]["version_bytes"],
           fmt_mib(one["rsync_literal"])))
    if sharded:
        sh = sharded[0]
        ratio = [o["sharded_ns"] / o["whole_ns"] for o in sharded]
        add("A %d-entry `unordered_map<string, vector<int64_t>>` (%s frozen) "
            "shared as %d shards (`ancient::Sharded`): changing one key "
            "re-shares one shard and moves %s (%.2f%% of the map; target "
            "<= 1%%: met) in %s to publish and %s to follow. Lookups of "
            "existing keys in random order, read through `ShardedView` on "
            "the following host against the same map shared as one root: %s "
            "ns against %s ns, %s (target <= 1.2x); the sharded map read in "
            "the producer's own store: %s ns. %d runs, best of 3 passes "
            "each; lookups here are cache misses (random keys in 329 MiB), "
            "so their spread from run to run is as large as the difference.\n"
            % (sh["entries"], fmt_mib(sh["map_bytes"]), sh["shards"],
               fmt_mib(sh["written"]), 100.0 * sh["written"] / sh["map_bytes"],
               fmt_range([o["publish_s"] for o in sharded], fmt_time),
               fmt_range([o["follow_s"] for o in sharded], fmt_time),
               fmt_range([o["sharded_ns"] for o in sharded], lambda v: "%.0f" % v),
               fmt_range([o["whole_ns"] for o in sharded], lambda v: "%.0f" % v),
               fmt_range(ratio, lambda v: "%.2fx" % v),
               fmt_range([o.get("sharded_src_ns", 0) for o in sharded],
                         lambda v: "%.0f" % v), len(sharded)))


def kept_targets(add):
    """An add for target rows: the row whose first cell is a key of
    results/targets_kept.json gets that file's measured and verdict cells
    (figures from focused runs after the last full one) instead of its own.
    Call its done() after the last row: a key no row had is an error (a
    target renamed would otherwise lose its kept figures unseen)."""
    path = os.path.join(RES, "targets_kept.json")
    kept = {}
    if os.path.exists(path):
        with open(path) as f:
            kept = json.load(f)["rows"]
    used = set()

    def add_target(row):
        first = row[2:].split(" | ")[0]
        k = kept.get(first)
        if k is not None:
            used.add(first)
            row = "| %s | %s | %s |" % (first, k["measured"], k["verdict"])
        add(row)

    def done():
        for first in kept:
            if first not in used:
                raise SystemExit("%s: no target row is named %r" % (path, first))
    add_target.done = done
    return add_target


def render_writes(add, rows, big_rows, opens, gm, gb):
    """Issue 21: build, Mark and Share measured first in a fresh process and
    again warm, on 1 and 2 threads (write_bench), with the targets."""
    names = {"trie": "trie, american-english-insane", "map": "hash map, 4M entries",
             "graph": "graph, 1M nodes", "records": "records"}
    add("## Writes on every core (issues 21 and 31)\n")
    note = os.path.join(RES, "write.note")
    if os.path.exists(note):
        with open(note) as f:
            add(f.read().strip() + "\n")
    add("`write_bench`: each data set is built in the heap, marked and "
        "shared (kNoSync) in a fresh process (**first**: its memory is new to "
        "the process), then marked and shared again and rebuilt after being "
        "freed (**warm**: the allocator has the memory), on 1 and 2 marking "
        "threads (`MarkOptions::threads`, `StoreOptions::mark_threads`). "
        "Medians of %d fresh processes per cell (min–max in brackets); the "
        "machine has 2 cores. Trie: Debian's american-english-insane, in the "
        "file's sorted order and shuffled (its words are the input, read "
        "before timing). Records: unique_ptrs to structs of a 24–47 byte "
        "string and 6–12 int64s.\n" % max(1, len(rows) // 10))
    add("| data | threads | build first | build warm | Mark first | Mark warm | "
        "Share first | Share warm | graph | Share MiB/s (warm) | Mark / build, first | "
        "Mark / build, warm | peak RSS |")
    add("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    groups = {}
    for o in rows + big_rows:
        key = (o["data"], o.get("order", ""), o.get("scale", ""), o["threads"])
        groups.setdefault(key, []).append(o)
    cell = lambda g, k: "%s (%s)" % (fmt_time(median([o[k] for o in g]) / 1e3),
                                     fmt_range([o[k] / 1e3 for o in g], fmt_time))
    med = {}
    for key in sorted(groups, key=lambda k: (k[2], list(names).index(k[0]), k[1], k[3])):
        data, order, scale, th = key
        g = groups[key]
        m = {k: median([o[k] for o in g]) for k in g[0] if isinstance(g[0][k], (int, float))}
        med[key] = m
        mib = m["graph_bytes"] / 2**20
        label = names[data] + ("" if data != "trie" else ", " + order)
        if data == "records":
            label += ", %s" % ("18M (big)" if scale == "big" else "2M")
        add("| %s | %d | %s | %s | %s | %s | %s | %s | %.0f MiB | %.0f | %.2fx | %.2fx | %.0f MiB |"
            % (label, th, cell(g, "build_first_ms"), cell(g, "build_warm_ms"),
               cell(g, "mark_first_ms"), cell(g, "mark_warm_ms"),
               cell(g, "share_first_ms"), cell(g, "share_warm_ms"), mib,
               mib / (m["share_warm_ms"] / 1e3), m["mark_first_ms"] / m["build_first_ms"],
               m["mark_warm_ms"] / m["build_warm_ms"], m["peak_rss_mb"]))
    add("")
    scratch = {k: g for k, g in groups.items() if "share_scratch_bytes" in g[0]}
    if scratch:
        add("The first Share's writer, beside the graph it writes (issue 31: every "
            "thread marks straight into the arena): the threads that marked it, and "
            "the heap memory it held besides (`ShareInfo::scratch_bytes`: sharing "
            "table, task queues, pointer-slot bitmaps; peak RSS above also counts "
            "the arena's page-cache pages the writer mapped).\n")
        add("| data | threads asked | Share marked on | writer's extra memory | of the graph |")
        add("|---|---|---|---|---|")
        for key in sorted(scratch, key=lambda k: (k[2], list(names).index(k[0]), k[1], k[3])):
            g = scratch[key]
            label = names[key[0]] + ("" if key[0] != "trie" else ", " + key[1])
            if key[0] == "records":
                label += ", %s" % ("18M (big)" if key[2] == "big" else "2M")
            extra = median([o["share_scratch_bytes"] for o in g])
            add("| %s | %d | %d | %.1f MiB | %.1f%% |" % (
                label, key[3], g[0]["share_threads"], extra / 2**20,
                100 * extra / median([o["graph_bytes"] for o in g])))
        add("")
    add("Speed-up from 1 to 2 threads (medians; Mark and Share, first and warm):\n")
    add("| data | Mark first | Mark warm | Share first | Share warm |")
    add("|---|---|---|---|---|")
    for key in sorted(med):
        if key[3] != 1 or (key[0], key[1], key[2], 2) not in med:
            continue
        one, two = med[key], med[(key[0], key[1], key[2], 2)]
        label = names[key[0]] + (", " + key[1] if key[0] == "trie" else "")
        if key[0] == "records":
            label += ", 18M (big)" if key[2] == "big" else ", 2M"

        add("| %s | %.2fx | %.2fx | %.2fx | %.2fx |" % (
            label, one["mark_first_ms"] / two["mark_first_ms"],
            one["mark_warm_ms"] / two["mark_warm_ms"],
            one["share_first_ms"] / two["share_first_ms"],
            one["share_warm_ms"] / two["share_warm_ms"]))
    add("")
    add("Targets (issues 21 and 31):\n")
    add("| target | measured | verdict |")
    add("|---|---|---|")
    add_target = kept_targets(add)
    t1, t2 = med.get(("trie", "sorted", "", 1)), med.get(("trie", "sorted", "", 2))
    if t1 and t2:
        r_first = t2["mark_first_ms"] / t2["build_first_ms"]
        r_warm = t2["mark_warm_ms"] / t2["build_warm_ms"]
        add_target("| trie: Mark ≤ 1.0x its heap build, first and warm, 2 threads | %.2fx first, %.2fx warm | %s |"
            % (r_first, r_warm, verdict(r_first <= 1 and r_warm <= 1)))
        r1 = t1["mark_warm_ms"] / t1["build_warm_ms"]
        add_target("| trie: Mark ≤ 1.5x its warm heap build, 1 thread | %.2fx | %s |" % (r1, verdict(r1 <= 1.5)))
        rs = t2["share_warm_ms"] / t2["mark_warm_ms"]
        add_target("| trie: Share (kNoSync) ≤ 1.3x its Mark, warm, 2 threads (issue 31) | %.2fx | %s |"
            % (rs, verdict(rs <= 1.3)))
    extras = [(median([o["share_scratch_bytes"] for o in g]) / median([o["graph_bytes"] for o in g]), k)
              for k, g in groups.items() if "share_scratch_bytes" in g[0]]
    if extras:
        worst, wk = max(extras)
        add_target("| writer's extra memory ≤ 25%% of the graph, every data set and thread count (issue 31) | "
            "%.1f%% at most (%s, %d thread%s) | %s |"
            % (100 * worst, names[wk[0]], wk[3], "s" if wk[3] > 1 else "", verdict(worst <= 0.25)))
    m2 = med.get(("map", "sorted", "", 2)) or med.get(("map", "sorted", "", 1))
    if m2:
        best = max(med.get(("map", "sorted", "", t), {}).get("graph_bytes", 0) / 2**20 /
                   max(med.get(("map", "sorted", "", t), {}).get("share_warm_ms", 1e9) / 1e3, 1e-9)
                   for t in (1, 2))
        add_target("| 4M-entry hash map: Share ≥ 500 MiB/s | %.0f MiB/s (best of 1 and 2 threads, warm) | %s |"
            % (best, verdict(best >= 500)))
    rb = med.get(("records", "sorted", "big", 2))
    if rb:
        bps = rb["graph_bytes"] / 2**30 / (rb["share_warm_ms"] / 1e3)
        add_target("| 2.9 GiB record set: Share ≥ 1 GiB/s, 2 threads | %.2f GiB/s (%.1f GiB) | %s |"
            % (bps, rb["graph_bytes"] / 2**30, verdict(bps >= 1)))
    if gm and gb:
        add_target("| 1M-node graph: Mark ≥ 2x faster than Boost builds it (peers_bench; automatic threads: one, for a graph through the sharing table) | %.2fx | %s |"
            % (gb / gm, verdict(gb / gm >= 2)))
    for data in ("trie", "map", "graph", "records"):
        scale = "big" if data == "records" and ("records", "sorted", "big", 1) in med else ""
        one, two = med.get((data, "sorted", scale, 1)), med.get((data, "sorted", scale, 2))
        if one and two:
            r = one["mark_warm_ms"] / two["mark_warm_ms"]
            add_target("| %s: Mark speed-up 1 → 2 threads ≥ 1.7x | %.2fx (warm), %.2fx (first) | %s |"
                % (names[data] + (", 18M (big)" if scale else ""), r,
                   one["mark_first_ms"] / two["mark_first_ms"], verdict(r >= 1.7)))
    by = {(o["contender"], o["mib"]): o["ns"] for o in opens if o["bench"] == "open"}
    sizes = sorted({o["mib"] for o in opens if o["bench"] == "open"})
    if sizes and by.get(("ancient", sizes[0])) and by.get(("lmdb", sizes[0])):
        a, l = by[("ancient", sizes[0])], by[("lmdb", sizes[0])]
        add_target("| open-to-first-read ≤ 1.25x raw LMDB open + get (%d MiB) | %.2fx (%s vs %s) | %s |"
            % (sizes[0], a / l, fmt_time(a / 1e9), fmt_time(l / 1e9), verdict(a / l <= 1.25)))
    add_target.done()
    add("")


def render_hosts(add, g, opens):
    """In place and relocated; many hosts; versions; writes on every core."""
    attach = {(o["relocated"], o["mib"]): o for o in opens if o["bench"] == "attach"}
    if attach:
        add("## In place and relocated, in a fresh process\n")
        add("The same store of 100-byte strings read by a fresh process with its "
            "base address free (in place) and taken (relocated: the arena mapped "
            "privately elsewhere, the graph's checksum checked and its pointers "
            "rewritten at the first Get). Open to first read, then the first full "
            "traversal, and the private (anonymous) memory the two cost. Best of "
            "several runs.\n")
        add("| size | mode | open to first read | per MiB | first traversal | private memory |")
        add("|---|---|---|---|---|---|")
        for mib in sorted({m for _, m in attach}):
            for rel in (False, True):
                o = attach.get((rel, mib))
                if not o:
                    continue
                add("| %d MiB | %s | %s | %s | %s | %.1f MiB (%.1f%%) |"
                    % (mib, "relocated" if rel else "in place", fmt_time(o["open_ns"] / 1e9),
                       fmt_time(o["open_ns"] / 1e9 / mib), fmt_time(o["traverse_ns"] / 1e9),
                       o["private_kib"] / 1024, 100 * o["private_kib"] / 1024 / mib))
        add("")
    replica_path = os.path.join(RES, "replica.jsonl")
    reps = load_lines("replica.jsonl") if os.path.exists(replica_path) else []
    rep = next((o for o in reps if o["bench"] == "replica"), None)
    ann = next((o for o in reps if o["bench"] == "announce"), None)
    sw = {o["switching"]: o for o in reps if o["bench"] == "switches"}
    if rep:
        add("## Many hosts: publish, follow, switch\n")
        add("`replica_bench`: a store holding one root, a vector of 100-byte "
            "strings; the version is %.0f MiB. Publish = the root checked, "
            "relocated, hashed and written as an object, fsync, manifest, "
            "announce; follow = the object checked against its name and type, "
            "placed in the local store, one commit. `cp -r` copies the source "
            "store (publish) or the repository's objects (follow) and `sync "
            "FILE...` fsyncs them, page cache warm.\n" % rep["mib"])
        add("| step | ours | MiB/s | cp -r | cp -r MiB/s |")
        add("|---|---|---|---|---|")
        add("| publish (store → repository) | %s | %.0f | %s | %.0f |"
            % (fmt_time(rep["publish_s"]), rep["mib"] / rep["publish_s"],
               fmt_time(rep["cp_src_s"]), rep["src_mib"] / max(rep["cp_src_s"], 1e-9)))
        add("| follow (repository → local) | %s | %.0f | %s | %.0f |"
            % (fmt_time(rep["follow_s"]), rep["mib"] / rep["follow_s"],
               fmt_time(rep["cp_version_s"]), rep["mib"] / max(rep["cp_version_s"], 1e-9)))
        add("")
        if ann:
            add("From `Publish` returning to a reader process's first read of the "
                "new version, with a follower polling every 10 ms: %s (the new "
                "version changes one small root beside the %.0f MiB one: only "
                "that root is fetched and placed).\n"
                % (fmt_time(ann["announce_to_read_s"]), ann["mib"]))
        if True in sw and False in sw:
            add("A reader process doing `Replica::Get` + one element in a loop "
                "(the words vector): %.0f lookups/s without switches, %.0f/s "
                "while a version is published and switched to every 100 ms "
                "(%d versions): %.2fx.\n"
                % (sw[False]["lookups_per_s"], sw[True]["lookups_per_s"],
                   sw[True]["versions_published"],
                   sw[True]["lookups_per_s"] / max(sw[False]["lookups_per_s"], 1)))
    deltas = [o for o in reps if o["bench"] == "delta"]
    if deltas:
        render_deltas(add, deltas, [o for o in reps if o["bench"] == "sharded"])
    write_path = os.path.join(RES, "write.jsonl")
    if os.path.exists(write_path):
        big_write = os.path.join(RES, "write_big.jsonl")
        render_writes(add, load_lines("write.jsonl"),
                      load_lines("write_big.jsonl") if os.path.exists(big_write) else [],
                      opens, g("BM_Write_Mark/graph"), g("BM_Write_Boost/graph"))


def render_scaled(add):
    """The scaled run (ANCIENT_BENCH_SCALE=big), when it was made."""
    big_path = os.path.join(RES, "mark_big.json")
    if os.path.exists(big_path):
        mb, _ = load_gbench("mark_big.json")
        build = mb.get("BM_BuildBigMapInHeap/iterations:2")
        share = mb.get("BM_ShareBigMap/iterations:2")
        if build and share:
            r = share["raw"]
            add("## Scaled run: 2 GiB of heap data\n")
            add("`ANCIENT_BENCH_SCALE=big tools/bench` (run separately; it "
                "needs about 6 GB of memory): the hash map of strings to "
                "vectors at 16M entries, %.0f MiB of heap (malloc's count after "
                "building it).\n" % r["heap_mb"])
            add("| step | time | graph | MiB/s of graph | vs heap build |")
            add("|---|---|---|---|---|")
            add("| build in the heap | %s | | | 1.00x |" % fmt_time(build["s"]))
            add("| `Share` (kNoSync) | %s | %.0f MiB | %.0f | %.2fx |"
                % (fmt_time(share["s"]), r["graph_bytes"] / 2**20,
                   share["bps"] / 2**20, share["s"] / build["s"]))
            add("")
            add("Memory during the two `Share`s: the process's resident memory "
                "was %.0f MiB before (the map) and peaked at %.0f MiB: the map, "
                "the file pages of the graphs written (the second `Share` "
                "writes a new graph while the first is still the live root), "
                "and the writer's scratch, %.0f MiB of anonymous memory (%.0f%% "
                "of the graph; target 25%%).\n"
                % (r["rss_before_mb"], r["peak_rss_mb"], r["scratch_bytes"] / 2**20,
                   100 * r["scratch_bytes"] / r["graph_bytes"]))


def render_json_convert(add):
    """JSON by schema, and reading old types through new ones."""
    json_path = os.path.join(RES, "json.json")
    if os.path.exists(json_path):
        jb, _ = load_gbench("json.json")
        add("## Inspecting, dumping and loading: JSON by schema\n")
        add("`json_bench`: each root written as JSON through the type the store "
            "recorded (`Snapshot::GetJson`, what `ancientctl get` and `dump` do "
            "per root) and built back from that JSON (`ShareJson`, kNoSync: "
            "what `load` does per root). MB/s of JSON.\n")
        add("| data | JSON | out (get/dump) | out MB/s | in (load) | in MB/s |")
        add("|---|---|---|---|---|---|")
        for name, label in (("Words", "words (vector<string>)"),
                            ("Map", "map<string,i64>"),
                            ("Graph", "graph (1M nodes, shared, cycles)")):
            o = jb.get("BM_JsonOut_" + name)
            i = jb.get("BM_JsonIn_" + name)
            if not o or not i:
                continue
            add("| %s | %.1f MB | %s | %.0f | %s | %.0f |"
                % (label, o["raw"]["json_mb"], fmt_time(o["s"]), o["bps"] / 1e6,
                   fmt_time(i["s"]), i["bps"] / 1e6))
        add("")
        go, gi = jb.get("BM_JsonOut_Graph"), jb.get("BM_JsonIn_Graph")
        if go and gi and "peak_rss_mb" in gi["raw"]:
            add("Memory: loading the graph raised the process's peak resident "
                "memory from %.0f MB to %.0f MB, about %.0f MB for %.0f MB of "
                "JSON: the parsed document (nlohmann's DOM, many times the text) "
                "and the graph built beside it before it is copied into the "
                "store. Writing JSON holds the sharing table and the output "
                "only.\n"
                % (go["raw"]["peak_rss_mb"], gi["raw"]["peak_rss_mb"],
                   gi["raw"]["peak_rss_mb"] - go["raw"]["peak_rss_mb"],
                   gi["raw"]["json_mb"]))
        lines_b = jb.get("BM_GetBefore_WordsLines")
        tojson = jb.get("BM_GetBefore_WordsValueToJson")
        wv = jb.get("BM_JsonOut_WordsValue")
        if lines_b and tojson and wv:
            add("Before schemas, `ancientctl get` printed only strings and Value "
                "roots (any other root: its type name). Side by side on the words: "
                "the lines of the strings root %s (%.0f MB/s); the words as a "
                "Value through nlohmann (`ToJson`) %s (%.0f MB/s); the same Value "
                "through the schema writer %s (%.0f MB/s).\n"
                % (fmt_time(lines_b["s"]), lines_b["bps"] / 1e6,
                   fmt_time(tojson["s"]), tojson["bps"] / 1e6,
                   fmt_time(wv["s"]), wv["bps"] / 1e6))
    conv_path = os.path.join(RES, "convert.json")
    if os.path.exists(conv_path):
        cb, _ = load_gbench("convert.json")

        def pick(prefix):
            for k, v in cb.items():
                if k == prefix or k.startswith(prefix + "/"):
                    return v
            return None
        add("## Reading old types through new ones (issue 17)\n")
        add("`convert_bench`: a graph written with one release of a type, "
            "converted into the next release's layout (`ConvertGraph`, what "
            "`Get<T>` does once per graph when the store holds another "
            "version of T: the source checked by schema first, then "
            "converted, then placed in private memory) beside `Mark` of the "
            "same data, in MiB of graph a second. Target: conversion at >= "
            "50% of Mark's speed. Private memory: the converted graph (and, "
            "while converting, a sharing table of 8 bytes per 8 bytes of "
            "source graph when it holds pointers).\n")
        add("| data (change) | graph | Mark | Mark MiB/s | convert | convert MiB/s | converted | ratio | target |")
        add("|---|---|---|---|---|---|---|---|---|")
        for name, label in (("Trie", "trie, 1.65M nodes (a field added)"),
                            ("Map", "4M-entry hash map (vector<i64> to vector<f64>)"),
                            ("Graph", "1M-node graph (a string field added)")):
            m, c = pick("BM_Mark" + name), pick("BM_Convert" + name)
            if not m or not c:
                continue
            ratio = c["bps"] / m["bps"]
            add("| %s | %.0f MiB | %s | %.0f | %s | %.0f | %.0f MiB | %.2f | %s |"
                % (label, c["raw"]["graph_mib"], fmt_time(m["s"]),
                   m["bps"] / 2**20, fmt_time(c["s"]), c["bps"] / 2**20,
                   c["raw"]["converted_mib"], ratio, verdict(ratio >= 0.5)))
        add("")
        mg = pick("BM_MigrateMap")
        if mg:
            add("`Store::Migrate` of the 4M-entry map (%.0f MiB graph) to its "
                "next release: %s for the whole commit (read, convert, write; "
                "kNoSync); the arena grew by %.0f MiB (the new graph, beside the "
                "old one until no reader holds it; then the old one's space is "
                "reused).\n" % (mg["raw"]["old_graph_mib"], fmt_time(mg["s"]),
                                 mg["raw"]["arena_growth_mib"]))
        add("Same-type reads are unchanged: `Get<T>` still compares one "
            "TypeId and goes to conversion only when it differs (the "
            "`peers_bench` traversal and root lookup figures above are from "
            "the same code path as before).\n")


def render_python_writes(add):
    """Puts from Python objects and the PyTorch loader (issue 33)."""
    put_path = os.path.join(RES, "python_put.json")
    if os.path.exists(put_path):
        with open(put_path) as f:
            pp = json.load(f)
        add("Puts from Python (`bench/python_put_bench.py`), each in a fresh "
            "interpreter, 3 runs: median time (range) and the most the "
            "process's peak RSS grew during the put.\n")
        add("| put | time | peak RSS growth | store |")
        add("|---|---|---|---|")
        labels = (("json", "%s floats, a list through JSON text (before)"),
                  ("list", "%s floats, a list, objects straight in"),
                  ("numpy", "%s floats, a numpy array (one block)"),
                  ("records", "%s dataclass records (2 f64, 1 i32)"))
        for how, label in labels:
            runs = pp[how]
            secs = sorted(x["seconds"] for x in runs)
            n = pp["n_records"] if how == "records" else pp["n_floats"]
            add("| %s | %s (%s-%s) | %.0f MiB | %.0f MiB |" % (
                label % "{:,}".format(n), fmt_time(secs[len(secs) // 2]),
                fmt_time(secs[0]), fmt_time(secs[-1]),
                max(x["extra_peak_mib"] for x in runs), runs[0]["store_mib"]))
        add("")
    torch_path = os.path.join(RES, "torch.json")
    if os.path.exists(torch_path):
        with open(torch_path) as f:
            tr = json.load(f)
        add("PyTorch (`examples/torch_loader.py`, Debian's torch %s): a "
            "`DataLoader` with %d forked workers, batches of %d, shuffled, "
            "over %s samples of %d f32 features and a label, iterated to the "
            "end, every sample checked. Private memory of each worker after "
            "the run beyond that of a worker of a Dataset that reads "
            "nothing (%.1f MiB).\n" % (
                tr.get("torch", "1.13"), tr["workers"], tr["batch"],
                "{:,}".format(tr["samples"]), tr["features"],
                max(tr["empty"]["worker_private_kib"]) / 1024))
        add("| Dataset over | samples/s | each worker's private memory "
            "beyond an empty worker's |")
        add("|---|---|---|")
        for name, label in (("ancient", "an ancient store root"),
                            ("list", "Python lists"),
                            ("numpy", "a numpy array loaded from .npy")):
            r = tr[name]
            b = r["beyond_empty_kib"]
            add("| %s | %.0f | %.1f-%.1f MiB |" % (
                label, r["samples_per_s"], min(b) / 1024, max(b) / 1024))
        a, lst = tr["ancient"], tr["list"]
        add("")
        add("Targets: each worker < 2 MiB beyond an empty worker: %.1f MiB, "
            "%s; throughput >= the list-backed Dataset's: %.2fx, %s.\n" % (
                max(a["beyond_empty_kib"]) / 1024,
                verdict(max(a["beyond_empty_kib"]) < 2048),
                a["samples_per_s"] / lst["samples_per_s"],
                verdict(a["samples_per_s"] >= lst["samples_per_s"])))


def render_python(add):
    """The Python module against its peers."""
    py_path = os.path.join(RES, "python.json")
    if os.path.exists(py_path):
        with open(py_path) as f:
            pb = json.load(f)
        r = pb["per_op_ns"]
        add("## Python: reading in place (issue 19)\n")
        add("`bench/python_bench.py` (Debian's Python 3.11, the module built "
            "with `-c opt`), one run, peers holding the same data: a dict or "
            "list, py-lmdb 1.4 (`get` of an 8-byte value + `struct.unpack`), "
            "Debian's marisa 0.2.6 bindings (a lookup through an `Agent`). "
            "Best of 3 loops of %d operations; ns per operation.\n" % 300000)
        rows = (
            ("root lookup (`store[key]`), one key", "root_lookup_ancient",
             "py-lmdb `env.begin().get(k)`, one key", "get_pylmdb_new_txn"),
            ("", None, "py-lmdb `with env.begin() as t: t.get(k)`",
             "get_pylmdb_with_txn"),
            ("", None, "py-lmdb `txn.get(k)` in an open txn",
             "get_pylmdb_open_txn"),
            ("first lookup after a commit (a snapshot's `snap[key]`)",
             "root_lookup_ancient_uncached",
             "py-lmdb `env.begin().get(k)`, 300k of 4M keys",
             "get_pylmdb_new_txn_4m_keys"),
            ("struct field", "struct_field_ancient", "dict item",
             "struct_field_dict"),
            ("vector index (10M)", "vector_index_ancient", "list index",
             "vector_index_list"),
            ("map lookup by str, %dM entries" % (pb["map_entries"] // 10**6),
             "map_lookup_ancient_4m", "dict", "map_lookup_dict_4m"),
            ("word map lookup (sorted, %s words)" % "99k",
             "word_lookup_ancient", "dict", "word_lookup_dict"),
            ("", None, "marisa-trie lookup", "word_lookup_marisa"),
            ("iteration, per element", "iterate_ancient", "list",
             "iterate_list"),
            ("numpy.asarray(view).sum(), per element", "numpy_sum_ancient",
             "", None))
        rows = tuple(row for row in rows
                     if (row[1] is None or row[1] in r)
                     and (row[3] is None or row[3] in r))
        add("| operation | ancient | peer | peer's |")
        add("|---|---|---|---|")
        for label, ours, peer, theirs in rows:
            add("| %s | %s | %s | %s |" % (
                label, "%.0f" % r[ours] if ours else "",
                peer, "%.0f" % r[theirs] if theirs else ""))
        add("")
        lk = r["root_lookup_ancient"]
        add("Targets: a struct field <= 150 ns: %.0f ns, %s; a root lookup "
            ">= 2.5x faster than py-lmdb's get (%.0f ns with a new txn): "
            "%.2fx, %s; a map lookup by key within 3x of a dict's: %.1fx, %s.\n"
            % (r["struct_field_ancient"],
               verdict(r["struct_field_ancient"] <= 150),
               r["get_pylmdb_new_txn"], r["get_pylmdb_new_txn"] / lk,
               verdict(r["get_pylmdb_new_txn"] / lk >= 2.5),
               r["map_lookup_ancient_4m"] / r["map_lookup_dict_4m"],
               verdict(r["map_lookup_ancient_4m"] / r["map_lookup_dict_4m"] <= 3)))
        render_python_writes(add)
        add("Time to first read in a fresh interpreter (timed inside it, from "
            "before `import` to after the read; median of 5): import the "
            "module, open the store and read the last element, against "
            "`import pickle`, `pickle.load` of a list of the same numbers and "
            "reading it.\n")
        add("| data | pickle file | ancient | pickle.load |")
        add("|---|---|---|---|")
        for label, v in pb["first_read"].items():
            add("| %s elements | %.1f MiB | %s | %s |" % (
                "{:,}".format(v["elements"]), v["pickle_bytes"] / 2**20,
                fmt_time(v["ancient_s"]), fmt_time(v["pickle_s"])))
        add("")
        fv, fl = pb["fork16_view_kib"], pb["fork16_list_kib"]
        add("Forked workers (16, each iterating all %s elements; the parent "
            "made the view, or the list, before forking): private memory "
            "growth per worker (Private_Clean + Private_Dirty of "
            "/proc/PID/smaps_rollup): ancient view %d-%d KiB; Python list "
            "%.0f-%.0f MiB, %.0f MiB for all 16.\n"
            % ("{:,}".format(pb["big_elements"]), min(fv), max(fv),
               min(fl) / 1024, max(fl) / 1024, sum(fl) / 1024))

"""The "Object storage" section of BENCHMARKS.md, from bench/results/s3.jsonl
(s3_bench, several runs against one gateway)."""

import os

from render_util import RES, fmt_time, load_lines, median


def _spread(values, fmt):
    """"median (min-max)" of values, each shown by fmt."""
    if not values:
        return "-"
    lo, hi = fmt(min(values)), fmt(max(values))
    if fmt is not fmt_time and float(lo) > float(hi):
        lo, hi = hi, lo
    return "%s (%s-%s)" % (fmt(median(values)), lo, hi)


def _mibs(nbytes):
    return lambda s: "%.0f" % (nbytes / 1048576 / s) if s > 0 else "-"


def render_s3(add):
    path = os.path.join(RES, "s3.jsonl")
    if not os.path.exists(path):
        return
    rows = load_lines("s3.jsonl")
    full = [o for o in rows if o["bench"] == "s3_full"]
    peers = [o for o in rows if o["bench"] == "s3_peers"]
    one = [o for o in rows if o["bench"] == "s3_one"]
    if not full:
        return
    nbytes = full[0]["bytes"]
    mib = _mibs(nbytes)
    add("## Object storage: publish and follow through s3://\n")
    add("`s3_bench` against one Ceph RADOS Gateway 16.2 on this machine "
        "(`tools/s3-gateway`: one monitor, one memory-backed OSD), %d runs; "
        "median (min-max). The store: %d roots of 100-byte strings, %.2f GiB "
        "of objects. ancient publishes into an empty repository and follows "
        "into an empty host (objects checked against their names and types, "
        "placed, one commit); the peers move as many bytes (%d files of the "
        "same sizes) with Debian's `aws s3 cp --recursive` (awscli 2.9) and "
        "`s3cmd put/get --recursive` to and from the same gateway. The "
        "gateway, the OSD and the client share the machine's 2 cores.\n"
        % (len(full), full[0]["n"], nbytes / 2**30, full[0]["n"]))
    add("| step | ancient | MiB/s | aws s3 cp | MiB/s | s3cmd | MiB/s |")
    add("|---|---|---|---|---|---|---|")
    for label, ours, aws, s3cmd in (
            ("publish / upload", "publish_s", "aws_put_s", "s3cmd_put_s"),
            ("follow / download", "follow_s", "aws_get_s", "s3cmd_get_s")):
        o = [r[ours] for r in full]
        a = [r[aws] for r in peers if r[aws] > 0]
        c = [r[s3cmd] for r in peers if r[s3cmd] > 0]
        add("| %s | %s | %s | %s | %s | %s | %s |" % (
            label, _spread(o, fmt_time), _spread(o, mib), _spread(a, fmt_time),
            _spread(a, mib), _spread(c, fmt_time), _spread(c, mib)))
    add("")
    add("Requests: publish %d (a HEAD and a PUT or the parts of each object, "
        "the listing, manifest, announcement), follow %d (the announcement, "
        "the manifest, one GET per object part).\n"
        % (full[0]["publish_requests"], full[0]["follow_requests"]))
    if one:
        o = one[0]
        add("| one root changed | |")
        add("|---|---|")
        add("| bytes published | %d of %d (%.2f%%) |" % (
            o["written"], o["version_bytes"], 100 * o["written"] / o["version_bytes"]))
        add("| bytes fetched | %d (%.2f%%) |" % (
            o["fetched"], 100 * o["fetched"] / o["version_bytes"]))
        add("| publish | %s |" % _spread([r["publish_s"] for r in one], fmt_time))
        add("| follow | %s |" % _spread([r["follow_s"] for r in one], fmt_time))
        add("| 8 follower processes (`--interval 0.1`), from the start of "
            "Publish to all 8 serving it | %s |"
            % _spread([r["fleet8_one_s"] for r in one], fmt_time))
        add("| the same, the whole first version (8 hosts fetching %.2f GiB at "
            "once) | %s |" % (nbytes / 2**30,
                              _spread([r["fleet8_first_s"] for r in one], fmt_time)))
        add("| an unchanged poll: requests, bytes on the wire (both ways, "
            "headers included), time | %d, %d B, %s |" % (
                o["poll_requests"], o["poll_wire_bytes"],
                _spread([r["poll_s"] for r in one], fmt_time)))
        rss = [r["follower_max_rss_kib"] for r in one if "follower_max_rss_kib" in r]
        if rss:
            add("| a follower process's peak resident memory (the first version: "
                "objects fetched ahead within a 128 MiB budget) | %.0f MiB |"
                % (max(rss) / 1024))
        add("")

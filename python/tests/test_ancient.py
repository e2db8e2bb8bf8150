"""The Python module reads what C++ wrote, in place: every frozen kind,
sharing and cycles, Values, numpy views; errors as exceptions; writes."""

import collections.abc
import math
import os
import shutil
import subprocess
import sys
import threading

import numpy
import pytest

import ancient


def test_struct_map_and_fields(store):
    cities = store["cities"]
    assert isinstance(cities, collections.abc.Mapping)
    assert len(cities) == 2
    assert list(cities) == ["Lisbon", "Porto"]
    lisbon = cities["Lisbon"]
    assert lisbon.name == "Lisbon"
    assert lisbon.population == 545923
    assert lisbon.area == 100.05
    assert lisbon.kind == 2  # enums as their integer
    assert list(lisbon.zips) == [1000, 1100]
    assert lisbon.mayor == "Carlos"
    assert cities["Porto"].mayor is None  # an empty optional
    assert list(lisbon.tags) == ["capital", "port"]
    assert lisbon.loc == (pytest.approx(38.7), pytest.approx(-9.1))
    assert lisbon._fields == ("name", "population", "area", "kind", "zips",
                              "mayor", "tags", "loc")
    with pytest.raises(AttributeError, match="no field 'nope'"):
        lisbon.nope
    assert "Lisbon" in cities and "Paris" not in cities
    assert cities.get("Paris") is None
    assert cities.get("Paris", 7) == 7
    assert b"Lisbon" in cities  # bytes keys too
    assert [k for k, _ in cities.items()] == ["Lisbon", "Porto"]
    assert [v.name for v in cities.values()] == ["Lisbon", "Porto"]
    assert "fixture::City(name='Lisbon'" in repr(lisbon)


def test_sequences(store):
    ints = store["ints"]
    assert isinstance(ints, collections.abc.Sequence)
    assert len(ints) == 1000
    assert ints[0] == -3 and ints[999] == 999 * 7 - 3
    assert ints[-1] == ints[999]
    with pytest.raises(IndexError):
        ints[1000]
    with pytest.raises(IndexError):
        ints[-1001]
    assert list(ints[10:13]) == [67, 74, 81]
    assert list(ints[::-250]) == [ints[999], ints[749], ints[499], ints[249]]
    assert ints[5:8] == [32, 39, 46]
    assert sum(ints) == sum(i * 7 - 3 for i in range(1000))
    assert 67 in ints and 68 not in ints
    assert ints.index(67) == 10
    assert list(store["floats"]) == [0.5, -1.25, 3e100]
    assert list(store["f32"]) == [1.5, -2.0]
    assert list(store["u8"]) == [0, 1, 255]
    assert list(store["i16"]) == [-32768, 0, 32767]
    assert list(store["bools"]) == [True, False, True]
    assert len(store["empty"]) == 0 and list(store["empty"]) == []
    assert store["tuple"] == (-8, "t", 2.5)
    assert store["opt_none"] is None
    assert store["opt_some"] == 9
    assert sorted(store["hash_set"]) == [1, 3, 4]


def test_numpy_views_are_zero_copy_and_read_only(store):
    ints = store["ints"]
    a = numpy.asarray(ints)
    assert a.dtype == numpy.int64 and a.shape == (1000,)
    assert a[10] == 67 and int(a.sum()) == sum(ints)
    assert not a.flags.writeable
    with pytest.raises(ValueError):
        a[0] = 1
    m = memoryview(ints)
    assert m.readonly and m.format == "q" and m.nbytes == 8000
    # Zero-copy: the array's memory is the store's mapping.
    b = numpy.asarray(store["ints"])
    assert a.__array_interface__["data"][0] == b.__array_interface__["data"][0]
    s = numpy.asarray(ints[1:10:3])
    assert list(s) == [ints[1], ints[4], ints[7]]
    assert numpy.asarray(store["f32"]).dtype == numpy.float32
    assert numpy.asarray(store["u8"]).dtype == numpy.uint8
    assert list(numpy.asarray(store["bools"])) == [True, False, True]
    with pytest.raises(TypeError):
        memoryview(store["empty"])  # strings have no buffer


def test_hash_maps_find_by_key(store):
    h = store["hash"]
    assert len(h) == 500
    for i in range(500):
        assert h["k%d" % i] == i * i
    assert "k500" not in h
    with pytest.raises(KeyError):
        h["k500"]
    hi = store["hash_int"]
    for i in range(-50, 50):
        assert hi[i * 1000003] == str(i)
    assert 1 not in hi and "x" not in hi and 2**70 not in hi
    assert sorted(store["hash"].to_python().items())[:2] == [("k0", 0),
                                                            ("k1", 1)]
    assert store["chars"]["z"] == 26 and store["chars"][b"a"] == 1
    assert store["by_int"][-5] == "minus five"
    assert -6 not in store["by_int"]


def test_variants_strings_and_values(store):
    v = store["variant"]
    assert v[0] == 42 and v[1] == "str" and v[2].name == "Porto"
    s = store["strings"]
    assert s[0] == "café"
    assert s[1] == b"bad\xff"  # not UTF-8: bytes
    assert s[2] == "nul\x00x"
    value = store["value"]
    assert value["list"] == [1, 2.5, "x", None, True]
    assert value["nested"]["k"] == "v"
    assert ancient.to_python(value) == {"list": [1, 2.5, "x", None, True],
                                        "nested": {"k": "v"}}


def test_strings_as_bytes(store_dir):
    with ancient.open(store_dir, strings_as_bytes=True) as s:
        assert s["strings"][0] == "café".encode()
        assert s["cities"][b"Lisbon"].name == b"Lisbon"


def test_sharing_and_cycles(store):
    g = store["graph"]
    n0 = g[0]
    assert n0.out[0].id == 1 and n0.out[1].id == 1
    n2 = n0.out[0].out[0]
    assert n2.out[0].id == 0  # the cycle
    copy = ancient.to_python(g)
    c0 = copy[0]
    assert c0["out"][0] is c0["out"][1]  # shared: one object
    assert c0["out"][0]["out"][0]["out"][0] is c0  # the cycle, kept
    repr(g)  # never recurses through the cycle


def test_store_api(store, store_dir):
    assert "cities" in store.keys()
    assert store.keys("hash") == ["hash", "hash_int", "hash_set"]
    assert "cities" in store and "nope" not in store
    assert len(store) == len(store.keys())
    assert "struct fixture::City {" in store.schema("cities")
    assert store.type_description("ints").startswith("ancient/1;")
    st = store.stats()
    assert st["roots"] == len(store.keys())
    with pytest.raises(KeyError, match="nope"):
        store["nope"]
    with store.snapshot() as snap:
        assert snap["ints"][3] == 18
        assert snap.keys("i") == ["i16", "ints"]


def test_errors(tmp_path, store_dir):
    with pytest.raises(ancient.NotFound, match=str(tmp_path / "none")):
        ancient.open(tmp_path / "none")
    with pytest.raises(ancient.Error):
        ancient.open(tmp_path / "none")
    s = ancient.open(store_dir)
    with pytest.raises(ancient.FailedPrecondition, match="read-only"):
        s.put("x", [1], s.type_description("ints"))
    with pytest.raises(ancient.InvalidArgument):
        s[""]
    view = s["cities"]
    s.close()
    with pytest.raises(ValueError, match="closed"):
        view["Lisbon"]
    with pytest.raises(ValueError, match="closed"):
        s["ints"]


def test_writes_and_batches(tmp_path, store_dir):
    d = str(tmp_path / "w")
    src = ancient.open(store_dir)
    ints_type = src.type_description("ints")
    cities_type = src.type_description("cities")
    with ancient.open(d, readonly=False, create=True) as w:
        w.put("ints", [1, 2, -3], ints_type)
        assert list(w["ints"]) == [1, 2, -3]
        city = ancient.to_python(src["cities"])
        w.put("cities", city, cities_type)
        assert w["cities"]["Lisbon"].zips == [1000, 1100]
        with w.batch() as b:
            b.put("a", [7], ints_type)
            b.delete("ints")
        assert "ints" not in w and list(w["a"]) == [7]
        with pytest.raises(RuntimeError):
            with w.batch() as b:
                b.put("b", [8], ints_type)
                raise RuntimeError("abort")
        assert "b" not in w  # nothing of an aborted batch
        with pytest.raises(TypeError, match=r"key 'bad': \[1\]: expected an int"):
            w.put("bad", [1, "two"], ints_type)
        assert "bad" not in w
        with pytest.raises(KeyError):
            w.delete("nope")


def test_threads_read_one_store(store):
    errors = []

    def read():
        try:
            for _ in range(200):
                assert store["hash"]["k7"] == 49
                assert store["ints"][999] == 999 * 7 - 3
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=read) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


_DAMAGE_SCRIPT = r"""
import os, random, shutil, sys
import ancient
src, work, flips = sys.argv[1], sys.argv[2], int(sys.argv[3])
size = os.path.getsize(os.path.join(src, "arena"))
rng = random.Random(7)
outcomes = {"ok": 0, "error": 0}
for n in range(flips):
    shutil.rmtree(work, ignore_errors=True)
    shutil.copytree(src, work)
    with open(os.path.join(work, "arena"), "r+b") as f:
        for _ in range(3):
            at = rng.randrange(size)
            f.seek(at)
            b = f.read(1)
            f.seek(at)
            f.write(bytes([b[0] ^ rng.randrange(1, 256)]))
    try:
        with ancient.open(work) as s:
            for key in s.keys():
                if key == "big":
                    continue
                try:
                    ancient.to_python(s[key])
                    repr(s[key])
                    outcomes["ok"] += 1
                except ancient.Error:
                    outcomes["error"] += 1
    except ancient.Error:
        outcomes["error"] += 1
print(outcomes["ok"], outcomes["error"])
"""


def test_damaged_stores_raise_never_crash(tmp_path, store_dir):
    # Bytes of the arena flipped at random, 150 times (3 bytes each), in a
    # child interpreter that reads every root in full: only ancient.Error
    # may come out, never a crash (a signal would end the child).
    r = subprocess.run(
        [sys.executable, "-c", _DAMAGE_SCRIPT, store_dir,
         str(tmp_path / "work"), "150"],
        capture_output=True, text=True, env=os.environ)
    assert r.returncode == 0, (r.returncode, r.stderr[-2000:])
    ok, errors = map(int, r.stdout.split())
    assert errors > 0  # damage was found, not read as sound
    assert ok > 0


def test_loader_example(store_dir):
    example = os.path.join(os.path.dirname(__file__), "..", "..", "examples",
                           "loader.py")
    r = subprocess.run([sys.executable, example, store_dir, "ints", "3"],
                       capture_output=True, text=True, env=os.environ)
    assert r.returncode == 0, r.stderr
    sums = sorted(int(line.split()[3].rstrip(",")) for line in
                  r.stdout.splitlines())
    assert sum(sums) == sum(i * 7 - 3 for i in range(1000))


def test_views_share_one_snapshot_until_a_commit(tmp_path, store_dir):
    # Thousands of views held at once: one LMDB reader slot while nothing
    # is committed (LMDB has 126), a new version after a commit.
    d = str(tmp_path / "v")
    shutil.copytree(store_dir, d)
    ints_type = ancient.open(store_dir).type_description("ints")
    with ancient.open(d, readonly=False) as w:
        held = [w["ints"] for _ in range(5000)]
        assert held[-1][0] == -3
        w.put("ints", [5, 6], ints_type)
        assert list(w["ints"]) == [5, 6]  # sees the commit
        assert held[0][0] == -3  # the old version, still held
        with w.snapshot() as a, w.snapshot() as b:
            assert a["ints"] == b["ints"]


def test_replica_reads_the_current_version(tmp_path, store_dir, ancientctl):
    repo, local = str(tmp_path / "repo"), str(tmp_path / "local")
    os.makedirs(repo)
    subprocess.run([ancientctl, "publish", store_dir, repo], check=True,
                   capture_output=True)
    subprocess.run([ancientctl, "follow", repo, local, "--once"], check=True,
                   capture_output=True)
    r = ancient.Replica(local)
    assert r.version == 1
    assert r["ints"][3] == 18
    assert r["cities"]["Lisbon"].population == 545923
    assert "hash" in r.keys()
    with pytest.raises(TypeError, match="read-only"):
        r.delete("ints")
    r.close()

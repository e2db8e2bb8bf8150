"""ancient: pointer-rich data shared by many processes, read in place.

Roots of an ancient store (written by C++ or by ``put``) are read as views
of the mapped bytes, typed by the schema each root records: no generated
code, no copy, no memory per worker process::

    import ancient
    with ancient.open("/var/lib/cities") as store:
        cities = store["cities"]               # a Mapping view
        print(cities["Lisbon"].population)     # a Struct view's field
        zips = numpy.asarray(cities["Lisbon"].zips)   # zero-copy, read-only

Views keep their snapshot (and so their version) alive; ``to_python()``
copies one out. Errors are ``KeyError`` for a missing key and subclasses of
``ancient.Error`` (``DataLoss``, ``FailedPrecondition``, ...) naming the
file, key or path.
"""

import collections.abc as _abc
import json as _json
import base64 as _base64
import math as _math

from ._ancient import (  # noqa: F401
    DataLoss,
    Error,
    FailedPrecondition,
    InvalidArgument,
    Mapping,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    Sequence,
    Snapshot,
    Struct,
)
from . import _ancient

__all__ = [
    "open", "Replica", "Store", "Snapshot", "Batch", "Struct", "Sequence",
    "Mapping", "Error", "NotFound", "DataLoss", "FailedPrecondition",
    "InvalidArgument", "ResourceExhausted", "PermissionDenied", "to_python",
]

# The views behave as the built-ins they stand for.
_abc.Sequence.register(Sequence)
_abc.Mapping.register(Mapping)
for _name in ("index", "count", "__contains__", "__reversed__"):
    setattr(Sequence, _name, getattr(_abc.Sequence, _name))


class _Values(_abc.ValuesView):
    def __iter__(self):
        return self._mapping._iter(1)


class _Items(_abc.ItemsView):
    def __iter__(self):
        return self._mapping._iter(2)


Mapping.keys = lambda self: _abc.KeysView(self)
Mapping.values = lambda self: _Values(self)
Mapping.items = lambda self: _Items(self)
Mapping.__eq__ = lambda self, other: (
    isinstance(other, _abc.Mapping) and dict(self.items()) == dict(other.items()))
Sequence.__hash__ = None
Mapping.__hash__ = None
Struct.__hash__ = None


def to_python(obj):
    """A plain copy of a view (dicts, lists, tuples, str, int, ...)."""
    return _ancient._to_python(obj)


def _json_value(obj):
    """obj as the JSON form of ancient/schema_graph.h (bytes as $base64)."""
    if isinstance(obj, (Struct, Sequence, Mapping)):
        obj = to_python(obj)
    if isinstance(obj, (bytes, bytearray, memoryview)):
        return {"$base64": _base64.b64encode(bytes(obj)).decode("ascii")}
    if isinstance(obj, float):
        if _math.isnan(obj):
            return "NaN"
        if _math.isinf(obj):
            return "Infinity" if obj > 0 else "-Infinity"
        return obj
    if isinstance(obj, dict):
        return {(k if isinstance(k, str) else _json.dumps(_json_value(k))):
                _json_value(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_json_value(v) for v in obj]
    return obj


def _json_text(obj):
    try:
        return _json.dumps(_json_value(obj), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidArgument(f"cannot store {type(obj).__name__}: {e}") from e


class Batch:
    """Changes committed together when the ``with`` block ends without an
    exception (or by ``commit()``); none of them otherwise."""

    def __init__(self, b):
        self._b = b

    def put(self, key, obj, type):
        """Shares ``obj`` at ``key`` as the type ``type`` (a layout
        description, as ``Store.type_description`` returns), built through
        the JSON form of ancient/schema_graph.h."""
        self._b._put(key, _json_text(obj), type)

    def delete(self, key):
        self._b.delete(key)

    def commit(self):
        self._b.commit()

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self._b.commit()
        else:
            self._b.abort()
        return False


class Store:
    """A store opened from Python. Read-only unless ``readonly=False``."""

    def __init__(self, s, path):
        self._s = s
        self.path = path

    def __getitem__(self, key):
        return self._s[key]

    def get(self, key, default=None):
        return self._s.get(key, default)

    def __contains__(self, key):
        return key in self._s

    def keys(self, prefix=""):
        """Keys starting with ``prefix``, in byte order."""
        return self._s.keys(prefix)

    def __iter__(self):
        return iter(self._s.keys(""))

    def __len__(self):
        return len(self._s.keys(""))

    def schema(self, key):
        """The root's type, C++-like, as the store recorded it."""
        return self._s.schema(key)

    def type_description(self, key):
        """The root's raw layout description (what ``put`` takes)."""
        return self._s.type_description(key)

    def stats(self):
        return self._s.stats()

    def snapshot(self):
        """A consistent view of every root as of now (a context manager):
        its views all come from one version."""
        return self._s.snapshot()

    def put(self, key, obj, type):
        """``Batch.put`` in a batch of its own."""
        self._s._put(key, _json_text(obj), type)

    def delete(self, key):
        self._s.delete(key)

    def batch(self):
        """A write batch, as a context manager."""
        return Batch(self._s._batch())

    def close(self):
        """Closes the store: views made from it raise from now on."""
        self._s.close()

    @property
    def closed(self):
        return self._s.closed

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return f"ancient.Store({self.path!r})"


def open(path, readonly=True, create=False, strings_as_bytes=False):
    """Opens the store in directory ``path`` (read-only unless
    ``readonly=False``; created when missing only with ``create=True``).
    ``strings_as_bytes``: strings always as bytes (else str, and bytes only
    where they are not UTF-8)."""
    return Store(_ancient._Store.open(str(path), readonly, create,
                                      strings_as_bytes), str(path))


class Replica(Store):
    """The current version of a local directory that ``ancientctl follow``
    keeps (see store/replica.h); each read uses the version current then."""

    def __init__(self, local, strings_as_bytes=False):
        super().__init__(_ancient._Store.open_replica(str(local),
                                                      strings_as_bytes),
                         str(local))

    @property
    def version(self):
        return self._s.version

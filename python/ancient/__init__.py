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

import builtins as _builtins
import collections.abc as _abc

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
    "type_description", "readable_type",
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


# Python's types as the store's: what a dataclass field's annotation names.
_PY_TYPES = {int: "i64", float: "f64", str: "string", bytes: "string",
             bool: "bool", type(None): "none"}
_PY_NAMES = {"int": "i64", "float": "f64", "str": "string",
             "bytes": "string", "bool": "bool", "None": "none"}


def _class_expr(cls, structs):
    import dataclasses as _dataclasses  # (imported when first needed:
    import typing as _typing            # they cost ~25 ms at start-up)
    name = cls.__name__
    if name in structs:
        if structs[name][0] is not cls:
            raise TypeError(f"two classes named {name!r} in one type")
        return name
    structs[name] = (cls, None)  # placeholder: the class may name itself
    try:
        hints = _typing.get_type_hints(cls)
    except Exception:  # annotations written as store types ("i32")
        hints = {}
    fields = []
    for f in _dataclasses.fields(cls):
        t = hints.get(f.name, f.type)
        try:
            fields.append(f"{_expr(t, structs)} {f.name};")
        except TypeError as e:
            raise TypeError(f"{name}.{f.name}: {e}") from None
    if not fields:
        raise TypeError(f"dataclass {name} has no fields")
    structs[name] = (cls, f"struct {name} {{ {' '.join(fields)} }}")
    return name


def _dtype_expr(dt, structs):
    if dt.fields is not None:
        name = f"Row{len(structs) or ''}"
        structs[name] = (dt, None)
        fields = [f"{_dtype_expr(dt.fields[n][0], structs)} {n};"
                  for n in dt.names]
        structs[name] = (dt, f"struct {name} {{ {' '.join(fields)} }}")
        return name
    if dt.subdtype is not None:
        raise TypeError(f"numpy dtype {dt}: sub-arrays have no store type")
    kind, size = dt.kind, dt.itemsize
    if kind == "b":
        return "bool"
    if kind in "iu" and size in (1, 2, 4, 8):
        return f"{kind}{8 * size}"
    if kind == "f" and size in (4, 8):
        return f"f{8 * size}"
    raise TypeError(f"numpy dtype {dt} has no store type "
                    "(bool, int8..64, uint8..64, float32/64, or records "
                    "of them)")


def _expr(t, structs):
    """A type's readable expression; struct definitions go to ``structs``."""
    import dataclasses as _dataclasses
    import typing as _typing
    if isinstance(t, str):
        return _PY_NAMES.get(t, t)  # a store type as written: "vector<i32>"
    if t in _PY_TYPES:
        return _PY_TYPES[t]
    if isinstance(t, type) and _dataclasses.is_dataclass(t):
        return _class_expr(t, structs)
    if type(t).__module__ == "numpy" and hasattr(t, "kind"):  # a dtype
        return _dtype_expr(t, structs)
    origin, args = _typing.get_origin(t), _typing.get_args(t)
    if origin in (list, _abc.Sequence, _abc.MutableSequence) and len(args) == 1:
        return f"vector<{_expr(args[0], structs)}>"
    if origin in (set, frozenset, _abc.Set) and len(args) == 1:
        return f"set<{_expr(args[0], structs)}>"
    if origin in (dict, _abc.Mapping) and len(args) == 2:
        return (f"map<{_expr(args[0], structs)}, "
                f"{_expr(args[1], structs)}>")
    if origin is tuple and args:
        if len(args) == 2 and args[1] is Ellipsis:
            return f"vector<{_expr(args[0], structs)}>"
        parts = ", ".join(_expr(a, structs) for a in args)
        return f"pair<{parts}>" if len(args) == 2 else f"tuple<{parts}>"
    if origin is _typing.Union or str(origin) == "<class 'types.UnionType'>":
        rest = [a for a in args if a is not type(None)]
        if len(rest) < len(args):
            inner = (_expr(rest[0], structs) if len(rest) == 1 else
                     f"variant<{', '.join(_expr(a, structs) for a in rest)}>")
            return f"optional<{inner}>"
        return f"variant<{', '.join(_expr(a, structs) for a in args)}>"
    raise TypeError(f"{t!r} has no store type (use int, float, str, bytes, "
                    "bool, list[...], dict[...], set[...], tuple[...], "
                    "Optional[...], a dataclass, or a store type as text "
                    "such as 'i32')")


def readable_type(type):
    """The readable form (as ``ancientctl schema`` and ``Store.schema``
    print it) of a ``type=`` argument: a store type as text, a full
    description, a dataclass, a numpy dtype (a vector of it) or a Python
    annotation such as ``list[float]``."""
    return _ancient._readable(type_description(type))


def type_description(type):
    """The full layout description (``"ancient/1;le;p64;..."``, what a store
    records and C++'s ``TypeDescription<T>()`` gives) of a ``type=``
    argument; see ``readable_type``. Raises TypeError for what has no store
    type and ``InvalidArgument`` (a ValueError) for text that does not
    parse."""
    if isinstance(type, str):
        text = type.strip()
        if text.startswith("ancient/"):
            _ancient._readable(text)  # checks it
            return text
        return _ancient._describe(text)
    structs = {}
    if _builtins.type(type).__module__ == "numpy" and hasattr(type, "kind"):
        root = f"vector<{_dtype_expr(type, structs)}>"
    else:
        root = _expr(type, structs)
    text = root + "\n" + "\n".join(d for _, d in structs.values())
    return _ancient._describe(text)


def _infer_type(obj):
    """The type of a numpy array put without ``type=``."""
    if type(obj).__module__ == "numpy" and hasattr(obj, "dtype"):
        structs = {}
        expr = _dtype_expr(obj.dtype, structs)
        for _ in range(max(obj.ndim, 1)):
            expr = f"vector<{expr}>"
        text = expr + "\n" + "\n".join(d for _, d in structs.values())
        return _ancient._describe(text)
    raise TypeError(f"put of a {type(obj).__name__} needs type= (a store "
                    "type such as 'vector<f64>', a dataclass, or a full "
                    "description)")


def _prepared(obj, description):
    """obj, with a numpy record array rearranged as the store lays out its
    struct (so that it goes in as one block)."""
    if type(obj).__module__ != "numpy" or getattr(obj, "dtype", None) is None:
        return obj
    if obj.dtype.fields is None:
        return obj
    layout = _ancient._record_layout(description)
    if layout is None:
        return obj  # converted row by row
    import numpy as np
    names, formats, offsets, itemsize = layout
    if sorted(names) != sorted(obj.dtype.names):
        raise TypeError(f"numpy fields {obj.dtype.names} are not the "
                        f"struct's fields {tuple(names)}")
    want = np.dtype({"names": names, "formats": formats,
                     "offsets": offsets, "itemsize": itemsize})
    if obj.dtype == want and obj.flags.c_contiguous:
        return obj
    out = np.zeros(obj.shape, dtype=want)  # padding zeroed
    for n in names:
        src, dst = obj.dtype.fields[n][0], want.fields[n][0]
        if not np.can_cast(src, dst, casting="safe"):
            raise TypeError(f"field {n!r}: numpy {src} does not fit {dst} "
                            "without loss")
        out[n] = obj[n]
    return out


def _put(target, key, obj, type):
    description = _infer_type(obj) if type is None else type_description(type)
    target._put_obj(key, _prepared(obj, description), description)


class Batch:
    """Changes committed together when the ``with`` block ends without an
    exception (or by ``commit()``); none of them otherwise."""

    def __init__(self, b):
        self._b = b

    def put(self, key, obj, type=None):
        """Shares ``obj`` at ``key`` as the type ``type``, built straight
        from the Python objects (see ``Store.put``)."""
        _put(self._b, key, obj, type)

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


class Store(_ancient._Store):
    """A store opened from Python (``ancient.open``). Read-only unless
    ``readonly=False``.

    ``store[key]`` is the root as a view of the latest version; ``get``,
    ``in``, ``keys(prefix)``, ``schema(key)``, ``type_description(key)``,
    ``stats()``, ``snapshot()``, ``delete(key)`` and ``close()`` come from
    the extension. Views keep their version alive while held."""

    def __init__(self, path, readonly=True, create=False,
                 strings_as_bytes=False, *, _replica=False):
        super().__init__(str(path), readonly, create, strings_as_bytes,
                         _replica)
        self.path = str(path)

    def __iter__(self):
        return iter(self.keys(""))

    def __len__(self):
        return len(self.keys(""))

    def put(self, key, obj, type=None):
        """Shares ``obj`` at ``key`` as the type ``type``, in a batch of its
        own; readers see it whole or not at all.

        ``type``: a store type as ``schema()`` prints it (``"vector<f64>"``,
        ``"map<string, vector<i32>>"``, ``"vector<P> struct P { f64 x;
        f64 y; }"``), a full description (``type_description()``), a
        dataclass, a Python annotation (``list[float]``), or a numpy dtype
        (a vector of it); omitted for a numpy array (its dtype and shape).

        ``obj``: lists, tuples, dicts, sets, str, bytes, numbers, None,
        dataclasses or any object with the struct's field names as
        attributes. Buffers of matching numbers (numpy arrays, bytes,
        array.array) go in as one block; an object reached twice through
        ``ptr<T>`` is stored once. Raises TypeError (an object of the wrong
        kind) or ValueError (a number out of range, a duplicate key) naming
        the key and the path; the store is then unchanged."""
        _put(self, key, obj, type)

    def batch(self):
        """A write batch, as a context manager."""
        return Batch(self._batch())

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def __repr__(self):
        return f"ancient.{type(self).__name__}({self.path!r})"


def open(path, readonly=True, create=False, strings_as_bytes=False):
    """Opens the store in directory ``path`` (read-only unless
    ``readonly=False``; created when missing only with ``create=True``).
    ``strings_as_bytes``: strings always as bytes (else str, and bytes only
    where they are not UTF-8)."""
    return Store(path, readonly, create, strings_as_bytes)


class Replica(Store):
    """The current version of a local directory that ``ancientctl follow``
    keeps (see replica/replica.h); each read uses the version current then.
    ``version`` is the version read now."""

    def __init__(self, local, strings_as_bytes=False):
        super().__init__(local, True, False, strings_as_bytes, _replica=True)


# store[key] without a Python frame or pybind11's dispatch (a subclass of
# theirs goes through _Store.__getitem__).
_ancient._fast_subscript(Store)
_ancient._fast_subscript(Replica)

"""Builds the Python module `ancient` without Bazel (see pyproject.toml).

The extension `ancient._ancient` is python/src/*.cc compiled together with
every library source of the graph, schema and store layers and the replica
layer's reader (what Bazel's //python:_ancient.so links), against the
system's libraries:

    apt-get install python3-dev pybind11-dev liblmdb-dev libabsl-dev \
        libxxhash-dev nlohmann-json3-dev pkg-config

Sources compile in parallel (ANCIENT_BUILD_JOBS, default: every core).
"""

import glob
import os
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = os.path.dirname(os.path.abspath(__file__))

# The Abseil libraries the layers use (pkg-config names).
ABSL = [
    "absl_status", "absl_statusor", "absl_strings", "absl_str_format",
    "absl_flat_hash_map", "absl_synchronization", "absl_time",
]


def _pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args], check=True,
                             capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as e:
        sys.exit(f"setup.py: pkg-config {' '.join(args)} failed ({e}); "
                 "install pkg-config and libabsl-dev")
    return shlex.split(out)


# Of the replica layer, what reading a follower's local directory needs
# (ancient.Replica): not publishing, following or the S3 client, whose
# libcurl would cost every `import ancient` 10-50 ms of loading.
REPLICA_READER = ["replica/replica.cc", "replica/util.cc",
                  "replica/file_util.cc", "replica/manifest.cc"]


def _sources():
    layers = list(REPLICA_READER)
    for layer in ("ancient", "store"):
        for path in glob.glob(os.path.join(layer, "**", "*.cc"),
                              recursive=True):
            name = os.path.basename(path)
            if not name.endswith(("_test.cc", "_helper.cc")):
                layers.append(path)
    return sorted(glob.glob("python/src/*.cc")) + sorted(layers)


def _headers():
    return sorted(h for layer in ("ancient", "store", "replica", "python")
                  for h in glob.glob(os.path.join(layer, "**", "*.h"),
                                     recursive=True))


def _pybind11_include():
    try:
        import pybind11
        return [pybind11.get_include()]
    except ImportError:  # Debian's pybind11-dev: headers in /usr/include
        return []


class ParallelBuildExt(build_ext):
    """build_ext compiling one extension's sources on every core."""

    def build_extension(self, ext):
        jobs = int(os.environ.get("ANCIENT_BUILD_JOBS", os.cpu_count() or 1))
        compile_one = self.compiler.compile

        def compile_all(sources, output_dir=None, **kw):
            with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
                parts = pool.map(
                    lambda s: compile_one([s], output_dir=output_dir, **kw),
                    sources)
                return [o for objs in parts for o in objs]

        self.compiler.compile = compile_all
        try:
            super().build_extension(ext)
        finally:
            self.compiler.compile = compile_one


os.chdir(ROOT)
absl_cflags = _pkg_config("--cflags", *ABSL)
absl_libs = _pkg_config("--libs", *ABSL)

setup(
    package_dir={"": "python"},
    packages=["ancient"],
    ext_modules=[
        Extension(
            "ancient._ancient",
            sources=_sources(),
            depends=_headers(),  # a changed header rebuilds the module
            include_dirs=[".", *_pybind11_include()],
            extra_compile_args=["-std=c++20", "-O2", "-g0",
                                "-fvisibility=hidden",
                                "-Wno-missing-field-initializers",
                                *absl_cflags],
            extra_link_args=["-Wl,--as-needed", *absl_libs],
            libraries=["lmdb", "xxhash"],
            language="c++",
        )
    ],
    cmdclass={"build_ext": ParallelBuildExt},
)

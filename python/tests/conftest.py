"""Fixtures for the Python module's tests: the store py_fixture writes.

tools/test runs these with Debian's /usr/bin/python3 (which has numpy and
pytest), PYTHONPATH=bazel-bin/python/pkg and ANCIENT_FIXTURE naming the
py_fixture binary and ANCIENTCTL the ancientctl binary.
"""

import os
import subprocess

import pytest


def pytest_configure(config):
    # tools/test's pip run: the module under test must be the installed one.
    want = os.environ.get("ANCIENT_EXPECT_MODULE_UNDER")
    if want:
        import ancient
        if not os.path.realpath(ancient.__file__).startswith(
                os.path.realpath(want)):
            raise pytest.UsageError(
                f"ancient imported from {ancient.__file__}, not from {want}")


def _binary(var):
    path = os.environ.get(var)
    if not path or not os.path.exists(path):
        pytest.fail(f"{var} must name a built binary (tools/test sets it)")
    return path


@pytest.fixture(scope="session")
def fixture_bin():
    return _binary("ANCIENT_FIXTURE")


@pytest.fixture(scope="session")
def ancientctl():
    return _binary("ANCIENTCTL")


@pytest.fixture(scope="session")
def store_dir(tmp_path_factory, fixture_bin):
    d = tmp_path_factory.mktemp("store") / "s"
    subprocess.run([fixture_bin, str(d)], check=True)
    return str(d)


@pytest.fixture()
def store(store_dir):
    import ancient
    with ancient.open(store_dir) as s:
        yield s

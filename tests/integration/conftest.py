"""Fixtures: a temporary repository and the daemon serving it."""
import pytest

from daemon_util import ONNXD, Daemon, build_repository


@pytest.fixture(scope="session")
def repo(tmp_path_factory):
    if not ONNXD.exists():
        pytest.fail(f"{ONNXD} is missing: build first (scripts/build.sh)")
    r = tmp_path_factory.mktemp("repo")
    build_repository(r)
    return r


@pytest.fixture(scope="session")
def daemon(repo):
    d = Daemon(repo)
    yield d
    assert d.alive(), "onnxd died during the tests:\n" + "".join(d.stderr_lines[-50:])
    assert d.stop() == 0

"""Fixtures for the deployment checks: the renders, onnxd's own --help, and a running onnxd."""
import re
import shutil
import subprocess
import sys

import pytest

from deploy_util import ROOT, all_renders, stop

sys.path.insert(0, str(ROOT / "tests" / "integration"))
from daemon_util import ONNXD, Daemon  # noqa: E402


@pytest.fixture(scope="session")
def onnxd_binary():
    if not ONNXD.exists():
        pytest.fail(f"{ONNXD} is missing: build first (scripts/build.sh)")
    return ONNXD


@pytest.fixture(scope="session")
def help_text(onnxd_binary):
    return subprocess.run([str(onnxd_binary), "--help"], check=True, capture_output=True, text=True).stdout


@pytest.fixture(scope="session")
def daemon_defaults(help_text):
    """{--flag: default} for every '--flag N (default)' or '--flag A|B (default)' in --help."""
    out = dict(re.findall(r"(--[a-z][a-z-]*) \S+ \(([^)]+)\)", help_text))
    for flag in ("--http-port", "--grpc-port", "--metrics-port", "--exit-timeout-secs"):
        assert flag in out, f"onnxd --help does not show the default of {flag}"
    return out


@pytest.fixture(scope="session")
def model_repo(tmp_path_factory):
    repo = tmp_path_factory.mktemp("deploy-repo")
    shutil.copytree(ROOT / "models", repo, dirs_exist_ok=True)
    return repo


@pytest.fixture(scope="session")
def renders():
    return all_renders()


@pytest.fixture(scope="session")
def daemon(onnxd_binary, model_repo):
    d = Daemon(model_repo)
    yield d
    assert d.alive(), "onnxd died during the tests:\n" + "".join(d.stderr_lines[-50:])
    stop(d)

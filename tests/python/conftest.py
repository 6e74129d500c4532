import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
SHARED_MODELS = ROOT.parent / "shared" / "models"
ONNXD = ROOT / "build" / "onnxd"


@pytest.fixture(scope="session")
def onnxd_bin():
    if not ONNXD.exists():
        pytest.fail(f"{ONNXD} is missing: build first (scripts/build.sh)")
    return str(ONNXD)


@pytest.fixture(scope="session")
def tutorial():
    path = SHARED_MODELS / "tutorial"
    if not path.exists():
        pytest.fail(f"{path} is missing (../shared must sit beside the checkout)")
    return path

"""Runs build/onnxd as a subprocess for the Python tests."""
import subprocess

import pathlib

ONNXD = pathlib.Path(__file__).resolve().parents[2] / "build" / "onnxd"


def run_onnxd(*args, check=True):
    proc = subprocess.run([str(ONNXD), *map(str, args)], capture_output=True, text=True, timeout=300)
    if check and proc.returncode != 0:
        raise AssertionError(f"onnxd {' '.join(map(str, args))} failed ({proc.returncode}):\n{proc.stderr}")
    return proc

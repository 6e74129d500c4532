"""The real build/onnxd on free ports over a temporary model repository (shared by the tests)."""
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import onnx
from onnx import TensorProto, helper

ROOT = pathlib.Path(__file__).resolve().parents[2]
# ONNXD_BIN (or ONNXD, as tests/corpus reads it) picks another build; build/onnxd by default.
ONNXD = pathlib.Path(os.environ.get("ONNXD_BIN") or os.environ.get("ONNXD") or ROOT / "build" / "onnxd").resolve()
TUTORIAL = ROOT.parent / "shared" / "models" / "tutorial"


def make_bytes_identity(path):
    """A model with a string input and output: BYTES in both directions."""
    g = helper.make_graph([helper.make_node("Identity", ["TEXT"], ["TEXT_OUT"])], "bytes_identity",
                          [helper.make_tensor_value_info("TEXT", TensorProto.STRING, ["N"])],
                          [helper.make_tensor_value_info("TEXT_OUT", TensorProto.STRING, ["N"])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, path)


def build_repository(repo):
    """The bundled models, the tutorial's three, a BYTES model and a broken one."""
    shutil.copytree(ROOT / "models", repo, dirs_exist_ok=True)
    for name, src in [("mnist_zoo", "mnist-zoo-opset7"), ("pytorch_mnist", "pytorch-mnist"), ("rf_iris", "sklearn-rf-iris")]:
        (repo / name / "1").mkdir(parents=True)
        shutil.copy(TUTORIAL / src / "model.onnx", repo / name / "1" / "model.onnx")
    make_bytes_identity(repo / "bytes_identity" / "1" / "model.onnx")
    (repo / "broken" / "1").mkdir(parents=True)
    (repo / "broken" / "1" / "model.onnx").write_bytes(b"this is not an onnx model")


class Daemon:
    def __init__(self, repo, extra_args=()):
        self.repo = repo
        self.proc = subprocess.Popen([str(ONNXD), "--model-repository", str(repo), "--http-port", "0",
                                      "--grpc-port", "0", "--metrics-port", "0", *extra_args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.stderr_lines = []
        threading.Thread(target=self._drain_stderr, daemon=True).start()
        self.http_port = self.grpc_port = self.metrics_port = None
        deadline = time.time() + 120
        while time.time() < deadline and None in (self.http_port, self.grpc_port, self.metrics_port):
            line = self.proc.stdout.readline()
            if not line:
                break
            m = re.search(r"HTTP\s+\S+:(\d+)", line)
            if m:
                self.http_port = int(m.group(1))
            m = re.search(r"gRPC\s+\S+:(\d+)", line)
            if m:
                self.grpc_port = int(m.group(1))
            m = re.search(r"Metrics\s+\S+:(\d+)/metrics", line)
            if m:
                self.metrics_port = int(m.group(1))
        if None in (self.http_port, self.grpc_port, self.metrics_port):
            self.stop()
            raise RuntimeError("onnxd did not start:\n" + "".join(self.stderr_lines))
        threading.Thread(target=self._drain_stdout, daemon=True).start()
        self.http_url = f"localhost:{self.http_port}"
        self.grpc_url = f"localhost:{self.grpc_port}"

    def _drain_stderr(self):
        for line in self.proc.stderr:
            self.stderr_lines.append(line)

    def _drain_stdout(self):
        for _ in self.proc.stdout:
            pass

    def alive(self):
        return self.proc.poll() is None

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode



"""Hot reload without a dropped request: versions swapped under load over gRPC and HTTP, broken
versions that leave the old one serving, and the poll mode that never loads a half-copied file.

Version K of the `swap` model computes y = x + K, so every response proves which version served it:
the client checks y - x against the model_version the response names.
"""
import json
import threading
import time
import urllib.error
import urllib.request

import numpy as np
import onnx
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from onnx import TensorProto, helper, numpy_helper

from daemon_util import Daemon

CONFIG = """max_batch_size: 8
dynamic_batching { max_queue_delay_microseconds: 200 }
"""


def add_k_model_bytes(k):
    g = helper.make_graph([helper.make_node("Add", ["x", "k"], ["y"])], f"add_{k}",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 4])],
                          [numpy_helper.from_array(np.full([4], float(k), np.float32), "k")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    return m.SerializeToString()


def write_version(repo, k, data=None):
    d = repo / "swap" / str(k)
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / "model.onnx.tmp"
    tmp.write_bytes(add_k_model_bytes(k) if data is None else data)
    tmp.rename(d / "model.onnx")


def swap_repo(tmp_path, first_version):
    """A repository holding the `swap` model (CONFIG) at `first_version`."""
    repo = tmp_path / "repo"
    (repo / "swap").mkdir(parents=True)
    (repo / "swap" / "config.pbtxt").write_text(CONFIG)
    write_version(repo, first_version)
    return repo


def repository_index(http_url):
    req = urllib.request.Request(f"http://{http_url}/v2/repository/index", data=b"{}", method="POST")
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def ready_version(http_url):
    with urllib.request.urlopen(f"http://{http_url}/v2/models/swap", timeout=10) as r:
        return max(int(v) for v in json.loads(r.read())["versions"])


class Load:
    """Four clients (two gRPC, two HTTP) sending without pause; every outcome is checked."""

    def __init__(self, daemon):
        self.daemon = daemon
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok = 0
        self.versions = set()
        self.failures = []
        self.threads = [threading.Thread(target=self.run, args=(p, i)) for p in ("grpc", "http") for i in range(2)]

    def run(self, protocol, seed):
        rng = np.random.default_rng(seed)
        if protocol == "grpc":
            client, mod = grpcclient.InferenceServerClient(self.daemon.grpc_url), grpcclient
        else:
            client, mod = httpclient.InferenceServerClient(self.daemon.http_url), httpclient
        while not self.stop.is_set():
            rows = int(rng.integers(1, 4))
            x = rng.standard_normal((rows, 4)).astype(np.float32)
            inp = mod.InferInput("x", [rows, 4], "FP32")
            inp.set_data_from_numpy(x)
            try:
                res = client.infer("swap", [inp])
                version = int(res.get_response()["model_version"] if protocol == "http"
                              else res.get_response().model_version)
                y = res.as_numpy("y")
                good = y.shape == x.shape and np.allclose(y - x, version, atol=1e-5)
                with self.lock:
                    if good:
                        self.ok += 1
                        self.versions.add(version)
                    else:
                        self.failures.append(f"{protocol}: version {version} answered y - x = {(y - x)[0]}")
            except Exception as e:  # noqa: BLE001 - every failure is a test failure, with its text
                with self.lock:
                    self.failures.append(f"{protocol}: {e}")

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join()


def test_fifty_swaps_under_load_drop_nothing(tmp_path):
    repo = swap_repo(tmp_path, 1)
    d = Daemon(repo, ["--model-control-mode", "explicit", "--load-model", "swap"])
    try:
        client = httpclient.InferenceServerClient(d.http_url)
        broken_loads = 0
        with Load(d) as load:
            version = 1
            for i in range(50):
                version += 1
                if i % 5 == 4:
                    # A broken version: its load fails and the last good version keeps serving.
                    write_version(repo, version, b"not a model at all")
                    with pytest.raises(Exception):
                        client.load_model("swap")
                    broken_loads += 1
                    assert ready_version(d.http_url) == version - 1
                    version += 1
                write_version(repo, version)
                client.load_model("swap")
                assert ready_version(d.http_url) == version
                time.sleep(0.05)
            time.sleep(0.3)
        assert load.failures == [], load.failures[:5]
        assert load.ok > 200, load.ok
        assert len(load.versions) > 10, sorted(load.versions)
        assert broken_loads == 10
        index = repository_index(d.http_url)
        states = {(e["name"], e.get("version")): e for e in index}
        assert states[("swap", str(version))]["state"] == "READY"
    finally:
        assert d.stop() == 0


def test_poll_mode_loads_new_versions_once_their_files_hold_still(tmp_path):
    repo = swap_repo(tmp_path, 1)
    d = Daemon(repo, ["--model-control-mode", "poll", "--repository-poll-secs", "1"])
    try:
        assert ready_version(d.http_url) == 1
        with Load(d) as load:
            # Version 2 arrives slowly, in pieces: it must not be loaded half-written.
            data = add_k_model_bytes(2)
            target = repo / "swap" / "2" / "model.onnx"
            target.parent.mkdir()
            with open(target, "wb") as f:
                for i in range(0, len(data), max(1, len(data) // 12)):
                    f.write(data[i:i + max(1, len(data) // 12)])
                    f.flush()
                    time.sleep(0.25)
                    assert ready_version(d.http_url) == 1
            deadline = time.time() + 20
            while time.time() < deadline and ready_version(d.http_url) != 2:
                time.sleep(0.2)
            assert ready_version(d.http_url) == 2
            # A new model folder appears and is loaded; removing it unloads it.
            other = repo / "other"
            (other / "1").mkdir(parents=True)
            (other / "1" / "model.onnx").write_bytes(add_k_model_bytes(7))
            deadline = time.time() + 20
            while time.time() < deadline:
                try:
                    urllib.request.urlopen(f"http://{d.http_url}/v2/models/other/ready", timeout=5)
                    break
                except urllib.error.HTTPError:
                    time.sleep(0.2)
            else:
                pytest.fail("the new model folder was not loaded")
            time.sleep(0.3)
        assert load.failures == [], load.failures[:5]
        assert load.versions >= {1, 2}
        log = "".join(d.stderr_lines)
        assert "failed to load" not in log, log[-2000:]
    finally:
        assert d.stop() == 0


def test_sigterm_under_grpc_and_http_load_answers_what_it_accepted(tmp_path):
    repo = swap_repo(tmp_path, 3)
    d = Daemon(repo, ["--exit-timeout-secs", "10"])
    load = Load(d)
    with load:
        time.sleep(1.0)
        d.proc.send_signal(15)
        rc = d.proc.wait(timeout=30)
    assert rc == 0, "".join(d.stderr_lines[-20:])
    assert load.ok > 0
    # After the signal the server refuses (UNAVAILABLE / 503) or is gone (connection refused); gRPC
    # core itself cancels calls still in its accept queue when the listener closes (a bare
    # "CANCELLED", never seen by onnxd). Nothing onnxd accepted may fail any other way.
    unexpected = [f for f in load.failures
                  if not any(s in f for s in ("UNAVAILABLE", "shutting down", "503", "onnection refused",
                                              "failed to connect", "Connection reset", "Socket closed"))
                  and not f.endswith("[StatusCode.CANCELLED] CANCELLED")]
    assert unexpected == [], unexpected[:5]


def test_model_warmup_from_the_config_runs_before_ready_and_a_bad_one_fails_the_load(tmp_path):
    repo = tmp_path / "repo"
    good = repo / "warm"
    write_version(repo, 1)
    (repo / "swap").rename(good)
    (good / "warmup").mkdir()
    (good / "warmup" / "x.bin").write_bytes(np.ones((2, 4), np.float32).tobytes())
    (good / "config.pbtxt").write_text(CONFIG + """
model_warmup [
  { name: "zeros" batch_size: 4 count: 2 inputs { key: "x" value { data_type: TYPE_FP32 dims: [4] zero_data: true } } },
  { name: "random" batch_size: 1 inputs { key: "x" value { data_type: TYPE_FP32 dims: [4] random_data: true } } },
  { name: "file" batch_size: 2 inputs { key: "x" value { data_type: TYPE_FP32 dims: [4] input_data_file: "x.bin" } } }
]""")
    bad = repo / "cold"
    (bad / "1").mkdir(parents=True)
    (bad / "1" / "model.onnx").write_bytes(add_k_model_bytes(1))
    (bad / "config.pbtxt").write_text(CONFIG + """
model_warmup [{ name: "short" batch_size: 2 inputs { key: "x" value { data_type: TYPE_FP32 dims: [4] input_data_file: "missing.bin" } } }]""")
    d = Daemon(repo)
    try:
        urllib.request.urlopen(f"http://{d.http_url}/v2/models/warm/ready", timeout=5)
        with pytest.raises(urllib.error.HTTPError):
            urllib.request.urlopen(f"http://{d.http_url}/v2/models/cold/ready", timeout=5)
        index = repository_index(d.http_url)
        cold = [e for e in index if e["name"] == "cold"][0]
        assert cold["state"] == "UNAVAILABLE" and "model_warmup 'short'" in cold["reason"], cold
        stats = json.loads(urllib.request.urlopen(f"http://{d.http_url}/v2/models/warm/stats").read())
        assert int(stats["model_stats"][0]["execution_count"]) == 0, "warm-up runs are not requests"
    finally:
        assert d.stop() == 0

"""Unloading returns a model's memory: 200 load / infer / unload cycles of a 20 MB model leave the
daemon's resident set within 10% of where it was after the first cycle, and a version swap needs at
most the old plus the new model's memory."""
import json
import urllib.request

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from daemon_util import Daemon

N = 2300  # 2300 x 2300 float weights: 21 MB


def write_model(path, seed):
    w = np.random.default_rng(seed).standard_normal((N, N)).astype(np.float32) * 0.01
    g = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "big_matmul",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, N])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, N])],
                          [numpy_helper.from_array(w, "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, path)


def rss_kb(pid, field="VmRSS"):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} missing")


def post(url, body=b"{}"):
    with urllib.request.urlopen(urllib.request.Request(url, data=body, method="POST"), timeout=60) as r:
        return r.read()


def infer(http_url):
    x = [0.5] * N
    body = json.dumps({"inputs": [{"name": "x", "shape": [1, N], "datatype": "FP32", "data": x}]}).encode()
    out = json.loads(post(f"http://{http_url}/v2/models/big/infer", body))
    assert len(out["outputs"][0]["data"]) == N


def test_two_hundred_load_unload_cycles_return_the_memory(tmp_path):
    repo = tmp_path / "repo"
    write_model(repo / "big" / "1" / "model.onnx", 1)
    d = Daemon(repo, ["--model-control-mode", "explicit"])
    try:
        base = f"http://{d.http_url}/v2/repository/models/big"
        samples = []
        for cycle in range(200):
            post(base + "/load")
            infer(d.http_url)
            post(base + "/unload")
            samples.append(rss_kb(d.proc.pid))
        first, last, peak = samples[0], samples[-1], max(samples)
        print(f"RSS after cycle 1: {first} kB, after 200: {last} kB, highest: {peak} kB")
        assert last <= first * 1.10, samples[::20]
        # A sample may catch an unloaded version still held by its last response: never two.
        assert peak <= first + 2 * (N * N * 4 // 1024), samples[::20]
    finally:
        assert d.stop() == 0


def test_a_swap_needs_at_most_old_plus_new(tmp_path):
    repo = tmp_path / "repo"
    write_model(repo / "big" / "1" / "model.onnx", 1)
    d = Daemon(repo, ["--model-control-mode", "explicit", "--load-model", "big"])
    try:
        infer(d.http_url)
        model_kb = N * N * 4 // 1024
        before = rss_kb(d.proc.pid)
        # Reset the peak resident set (VmHWM) so that it measures the swap alone.
        with open(f"/proc/{d.proc.pid}/clear_refs", "w") as f:
            f.write("5")
        write_model(repo / "big" / "2" / "model.onnx", 2)
        post(f"http://{d.http_url}/v2/repository/models/big/load")
        infer(d.http_url)
        peak = rss_kb(d.proc.pid, "VmHWM")
        after = rss_kb(d.proc.pid)
        print(f"RSS before swap {before} kB, peak during swap {peak} kB, after {after} kB, model {model_kb} kB")
        # Old + new model, plus slack for the parse buffer of the file being compiled.
        assert peak <= before + 2 * model_kb + 16 * 1024, (before, peak, model_kb)
        assert after <= before + model_kb // 2 + 16 * 1024, "the old version's memory went back after the swap"
    finally:
        assert d.stop() == 0

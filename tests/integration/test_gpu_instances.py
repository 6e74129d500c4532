"""KIND_GPU instance groups (issue 8): the model is compiled for CUDA. On a machine without a GPU
(CI) its load fails with a clear reason while the repository's other models serve; with a GPU it
loads and the load log line says how many instances each GPU got, where its nodes run and how many
copies a run makes, and a group listing a GPU that does not exist fails that model's load naming
the GPU."""
import json
import shutil
import time
import urllib.request

import onnx
from onnx import TensorProto, helper

from daemon_util import ROOT, Daemon


def make_model(path):
    f = TensorProto.FLOAT
    w = helper.make_tensor("w", f, [4, 3], [0.5] * 12)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["xw"], name="mm"),
             helper.make_node("Hardmax", ["xw"], ["fl"], name="hardmax"),  # no CUDA kernel: 2 copies
             helper.make_node("Relu", ["fl"], ["y"], name="relu")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", f, [-1, 4])],
                          [helper.make_tensor_value_info("y", f, [-1, 3])], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, str(path))


def _gpu_present():
    return shutil.which("nvidia-smi") is not None and shutil.os.path.exists("/dev/nvidia0")


def test_kind_gpu_model_fails_to_load_without_a_gpu_and_others_serve(tmp_path):
    repo = tmp_path / "repo"
    make_model(repo / "on_gpu" / "1" / "model.onnx")
    (repo / "on_gpu" / "config.pbtxt").write_text(
        'name: "on_gpu"\nmax_batch_size: 8\ninstance_group [{ count: 1, kind: KIND_GPU }]\n')
    make_model(repo / "on_gpu_63" / "1" / "model.onnx")
    (repo / "on_gpu_63" / "config.pbtxt").write_text(
        'name: "on_gpu_63"\nmax_batch_size: 8\ninstance_group [{ count: 1, kind: KIND_GPU, gpus: [63] }]\n')
    shutil.copytree(ROOT / "models" / "simple", repo / "simple")
    d = Daemon(repo)
    try:
        req = urllib.request.Request(f"http://{d.http_url}/v2/repository/index", method="POST", data=b"{}")
        with urllib.request.urlopen(req, timeout=30) as r:
            index = {m["name"]: m for m in json.loads(r.read())}
        assert index["simple"]["state"] == "READY"
        deadline = time.time() + 10
        while True:
            log = "".join(d.stderr_lines)
            lines = [l for l in log.splitlines() if "'on_gpu'" in l and ("failed to load" in l or "loaded in" in l)]
            if lines or time.time() > deadline:
                break
            time.sleep(0.1)
        assert lines, log[-3000:]
        missing = index["on_gpu_63"]
        assert missing["state"] == "UNAVAILABLE", missing
        if _gpu_present():
            assert index["on_gpu"]["state"] == "READY", index["on_gpu"]
            assert "2 of 3 nodes on cuda" in lines[0] and "4 copies per run" in lines[0], lines[0]
            assert "1 instance on GPU 0" in lines[0], lines[0]
            assert "lists GPU 63, which does not exist: this process sees" in missing["reason"], missing
        else:
            assert "no GPU is usable" in missing["reason"], missing
            assert index["on_gpu"]["state"] == "UNAVAILABLE"
            reason = index["on_gpu"]["reason"]
            assert "KIND_GPU" in reason and "no GPU is usable" in reason, reason
            assert "failed to load" in lines[0] and "KIND_GPU" in lines[0], lines[0]
    finally:
        assert d.stop() == 0

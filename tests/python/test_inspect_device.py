"""`onnxd inspect --device cuda` (issue 8): where each node runs and the copies per run. It is the
plan, so it needs no GPU."""
import onnx
from onnx import TensorProto, helper

from onnxd_cli import run_onnxd


def test_inspect_device_cuda_lists_placement_and_copies(tmp_path):
    f = TensorProto.FLOAT
    w = helper.make_tensor("w", f, [4, 3], [0.5] * 12)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["xw"], name="mm"),
             helper.make_node("Asin", ["xw"], ["fl"], name="asin"),
             helper.make_node("Relu", ["fl"], ["y"], name="relu")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", f, [2, 4])],
                          [helper.make_tensor_value_info("y", f, [2, 3])], [w])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    path = tmp_path / "m.onnx"
    onnx.save(m, str(path))

    out = run_onnxd("inspect", path, "--device", "cuda").stdout
    assert "0  cuda  MatMul 'mm'" in out
    assert "1  cpu   Asin 'asin'  (no CUDA kernel for Asin)" in out
    assert "2  cuda  Relu 'relu'" in out
    assert "copies per run: 4 (1 input, 2 between devices, 1 output)" in out
    assert "constants uploaded once: 1" in out
    assert "GPUs for KIND_GPU instances: " in out  # "none here (why)" on CI, "N (ordinals 0-N-1)" with GPUs

    plain = run_onnxd("inspect", path).stdout
    assert "placement" not in plain
    bad = run_onnxd("inspect", path, "--device", "tpu", check=False)
    assert bad.returncode == 2 and "usage" in bad.stderr

"""If / Loop / Scan / sequence ops against onnxruntime on shapes and attributes the node suite
does not cover (scan axes and directions, zero-trip loops, outer-scope reads, sequences).

    .venv/bin/python -m pytest tests/python/test_control_flow_ops.py
"""
import os
import shutil
import sys
import tempfile

import numpy as np
from onnx import TensorProto, helper

sys.path.insert(0, os.path.dirname(__file__))
from ml_oracle import run_onnxd, write_case  # noqa: E402

F = TensorProto.FLOAT


def _model(nodes, inputs, outputs, opset=17):
    g = helper.make_graph(nodes, "g", inputs, outputs)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def scan_cases(root):
    rng = np.random.default_rng(0)
    # body: state s [2], x [2] -> s' = s + x, y = s' * 2
    body = helper.make_graph(
        [helper.make_node("Add", ["s", "x"], ["s2"]), helper.make_node("Add", ["s2", "s2"], ["y"])], "body",
        [helper.make_tensor_value_info("s", F, [2]), helper.make_tensor_value_info("x", F, [2])],
        [helper.make_tensor_value_info("s2", F, [2]), helper.make_tensor_value_info("y", F, [2])])
    for in_axis, in_dir, out_axis, out_dir in [(0, 0, 0, 0), (1, 0, 0, 0), (0, 1, 0, 0), (0, 0, 1, 0), (0, 0, 1, 1),
                                               (1, 1, -1, 1), (-1, 0, 0, 1)]:
        shape = [3, 2] if in_axis == 0 else [2, 3]
        node = helper.make_node("Scan", ["s0", "xs"], ["sf", "ys"], body=body, num_scan_inputs=1,
                                scan_input_axes=[in_axis], scan_input_directions=[in_dir],
                                scan_output_axes=[out_axis], scan_output_directions=[out_dir])
        m = _model([node], [helper.make_tensor_value_info("s0", F, [2]), helper.make_tensor_value_info("xs", F, shape)],
                   [helper.make_tensor_value_info("sf", F, None), helper.make_tensor_value_info("ys", F, None)])
        write_case(root, f"scan_{in_axis}_{in_dir}_{out_axis}_{out_dir}".replace("-", "m"), m,
                   {"s0": rng.normal(size=2).astype(np.float32), "xs": rng.normal(size=shape).astype(np.float32)})


def loop_cases(root):
    # body: i, cond, acc -> cond, acc + x_outer * i, scan: acc
    body = helper.make_graph(
        [helper.make_node("Cast", ["i"], ["fi"], to=F), helper.make_node("Mul", ["x", "fi"], ["xi"]),
         helper.make_node("Add", ["acc", "xi"], ["acc2"]), helper.make_node("Identity", ["cond"], ["cond2"]),
         helper.make_node("Identity", ["acc2"], ["scan"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc", F, [3])],
        [helper.make_tensor_value_info("cond2", TensorProto.BOOL, []), helper.make_tensor_value_info("acc2", F, [3]),
         helper.make_tensor_value_info("scan", F, [3])])
    for trips in (0, 1, 4):
        node = helper.make_node("Loop", ["M", "c", "a0"], ["af", "scans"], body=body)
        m = _model([node], [helper.make_tensor_value_info("M", TensorProto.INT64, []),
                            helper.make_tensor_value_info("c", TensorProto.BOOL, []),
                            helper.make_tensor_value_info("a0", F, [3]), helper.make_tensor_value_info("x", F, [3])],
                   [helper.make_tensor_value_info("af", F, None), helper.make_tensor_value_info("scans", F, None)])
        write_case(root, f"loop_trips_{trips}", m, {"M": np.array(trips, dtype=np.int64), "c": np.array(True),
                                                    "a0": np.ones(3, np.float32),
                                                    "x": np.array([1, 2, 3], np.float32)})
    # cond-driven loop: stop when acc[0] > 5
    body = helper.make_graph(
        [helper.make_node("Add", ["acc", "one"], ["acc2"]),
         helper.make_node("ReduceMax", ["acc2"], ["mx"], keepdims=0),
         helper.make_node("Less", ["mx", "five"], ["cond2"])], "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc", F, [2])],
        [helper.make_tensor_value_info("cond2", TensorProto.BOOL, []), helper.make_tensor_value_info("acc2", F, [2])],
        initializer=[helper.make_tensor("one", F, [], [1.0]), helper.make_tensor("five", F, [], [5.0])])
    node = helper.make_node("Loop", ["", "c", "a0"], ["af"], body=body)
    m = _model([node], [helper.make_tensor_value_info("c", TensorProto.BOOL, []), helper.make_tensor_value_info("a0", F, [2])],
               [helper.make_tensor_value_info("af", F, None)])
    write_case(root, "loop_cond_only", m, {"c": np.array(True), "a0": np.array([0.5, 1.5], np.float32)})


def if_cases(root):
    then_g = helper.make_graph([helper.make_node("Add", ["x", "y"], ["o"])], "then", [],
                               [helper.make_tensor_value_info("o", F, None)])
    else_g = helper.make_graph([helper.make_node("Sub", ["x", "y"], ["o2"])], "else", [],
                               [helper.make_tensor_value_info("o2", F, None)])
    for c in (True, False):
        node = helper.make_node("If", ["c"], ["z"], then_branch=then_g, else_branch=else_g)
        m = _model([helper.make_node("Relu", ["x0"], ["x"]), node],
                   [helper.make_tensor_value_info("c", TensorProto.BOOL, []), helper.make_tensor_value_info("x0", F, [2, 2]),
                    helper.make_tensor_value_info("y", F, [2, 2])], [helper.make_tensor_value_info("z", F, None)])
        write_case(root, f"if_outer_{c}", m, {"c": np.array(c), "x0": np.array([[1, -2], [3, -4]], np.float32),
                                              "y": np.ones((2, 2), np.float32)})


def sequence_cases(root):
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    for axis, new_axis in [(0, 0), (1, 0), (-1, 0), (0, 1), (3, 1), (-1, 1)]:
        nodes = [helper.make_node("SplitToSequence", ["x"], ["s"], axis=1, keepdims=1),
                 helper.make_node("ConcatFromSequence", ["s"], ["y"], axis=axis, new_axis=new_axis)]
        m = _model(nodes, [helper.make_tensor_value_info("x", F, [2, 3, 4])], [helper.make_tensor_value_info("y", F, None)])
        write_case(root, f"seq_concat_{axis}_{new_axis}".replace("-", "m"), m, {"x": x})
    nodes = [helper.make_node("SplitToSequence", ["x", "sp"], ["s"], axis=2),
             helper.make_node("SequenceErase", ["s", "p"], ["s2"]),
             helper.make_node("SequenceLength", ["s2"], ["n"]),
             helper.make_node("SequenceAt", ["s2", "p"], ["y"])]
    m = _model(nodes, [helper.make_tensor_value_info("x", F, [2, 3, 4]),
                       helper.make_tensor_value_info("sp", TensorProto.INT64, []),
                       helper.make_tensor_value_info("p", TensorProto.INT64, [])],
               [helper.make_tensor_value_info("n", TensorProto.INT64, None), helper.make_tensor_value_info("y", F, None)])
    write_case(root, "seq_split_scalar_erase", m, {"x": x, "sp": np.array(3, np.int64), "p": np.array(-1, np.int64)})


ALL_CASES = [scan_cases, loop_cases, if_cases, sequence_cases]


def test_control_flow_matches_onnxruntime():
    root = tempfile.mkdtemp(prefix="onnxd_cf_")
    try:
        for f in ALL_CASES:
            f(root)
        res = run_onnxd(root)
        assert res, "no cases ran"
        failed = {k: v for k, v in res.items() if v}
        assert not failed, "\n".join(f"{k}: {v}" for k, v in sorted(failed.items()))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else "/tmp/mlcases/cf"
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    for f in ALL_CASES:
        f(root)
    res = run_onnxd(root)
    for k, v in sorted(res.items()):
        if v:
            print("FAIL", k, v[:300])
    print(sum(1 for v in res.values() if not v), "of", len(res), "pass")

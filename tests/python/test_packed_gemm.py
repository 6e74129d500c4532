"""MatMul and Gemm with constant (initializer) float weights, which onnxd packs at Init and runs through
cpu::PackedSgemm, against onnxruntime: the node suite feeds B as an input, so it never reaches that path.
Shapes hit the kernel's tails (rows past 12-row tiles, columns past 16/32-wide panels, K past 256-deep
blocks); Gemm covers transB, alpha, beta and every C broadcast, and transA (which keeps the BLAS path).

    .venv/bin/python -m pytest tests/python/test_packed_gemm.py
"""
import os
import shutil
import sys
import tempfile

import numpy as np
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

sys.path.insert(0, os.path.dirname(__file__))
from ml_oracle import run_onnxd, write_case  # noqa: E402

RNG = np.random.default_rng(17)


def _model(node, a_shape, out_name, inits, opset=13):
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("A", TP.FLOAT, a_shape)],
                          [helper.make_tensor_value_info(out_name, TP.FLOAT, None)],
                          initializer=[numpy_helper.from_array(v, k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def _rand(*shape):
    # Multiples of 1/8: every product and partial sum is exact in float32, so any summation order
    # gives onnxruntime's result (random floats near a cancelling zero would differ in the last bits).
    return (RNG.integers(-8, 9, shape) / 8).astype(np.float32)


def matmul_cases(root):
    n = 0
    for a_shape, k, cols in [((1, 64), 64, 10), ((5, 300), 300, 33), ((13, 257), 257, 50), ((64, 512), 512, 512),
                             ((2, 7, 40), 40, 17), ((3, 1, 16), 16, 32), ((100,), 100, 31), ((130, 20), 20, 7)]:
        node = helper.make_node("MatMul", ["A", "B"], ["Y"])
        m = _model(node, list(a_shape), "Y", {"B": _rand(k, cols)})
        write_case(root, f"packed_matmul_{n}", m, {"A": _rand(*a_shape)})
        n += 1
    return n


def gemm_cases(root):
    n = 0
    mm, k, cols = 19, 70, 45
    c_shapes = [None, (cols,), (1, cols), (mm, cols), (mm, 1), (1, 1), ()]
    for trans_b in (0, 1):
        for trans_a in (0, 1):
            for c_shape in c_shapes:
                for alpha, beta in ((1.0, 1.0), (0.5, 2.0), (1.5, 0.0)):
                    inits = {"B": _rand(cols, k) if trans_b else _rand(k, cols)}
                    inputs = ["A", "B"]
                    if c_shape is not None:
                        inits["C"] = _rand(*c_shape)
                        inputs.append("C")
                    node = helper.make_node("Gemm", inputs, ["Y"], alpha=alpha, beta=beta, transA=trans_a,
                                            transB=trans_b)
                    a_shape = [k, mm] if trans_a else [mm, k]
                    write_case(root, f"packed_gemm_{n}", _model(node, a_shape, "Y", inits), {"A": _rand(*a_shape)})
                    n += 1
    return n


def test_constant_weight_matmul_and_gemm_match_onnxruntime():
    root = tempfile.mkdtemp(prefix="onnxd_packed_")
    try:
        count = matmul_cases(root) + gemm_cases(root)
        res = run_onnxd(root)
        assert len(res) == count, f"{len(res)} of {count} cases ran"
        failed = {k: v for k, v in res.items() if v}
        assert not failed, "\n".join(f"{k}: {v}" for k, v in sorted(failed.items()))
    finally:
        shutil.rmtree(root, ignore_errors=True)

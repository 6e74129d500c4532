"""Softmax and LogSoftmax on rows the node suite does not have (all -inf, some -inf, +inf, huge and tiny
values, NaN) against onnxruntime, through the node-suite runner.

    .venv/bin/python -m pytest tests/python/test_softmax_edges.py
"""
import os
import shutil
import sys
import tempfile

import numpy as np
from onnx import TensorProto as TP
from onnx import helper

sys.path.insert(0, os.path.dirname(__file__))
from ml_oracle import run_onnxd, write_case  # noqa: E402


def _cases(root):
    inf, nan = np.inf, np.nan
    x = np.array([[-inf, -inf, -inf, -inf],
                  [-inf, 0.0, 1.0, -inf],
                  [3e38, -3e38, 0.0, 1.0],
                  [-100.0, -101.0, -120.0, -99.5],
                  [1.0, nan, 2.0, 3.0],
                  [0.5, 0.25, 0.125, 0.0]], np.float32)
    for op in ("Softmax", "LogSoftmax"):
        for opset in (11, 13):
            node = helper.make_node(op, ["x"], ["y"], axis=-1 if opset >= 13 else 1)
            g = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TP.FLOAT, list(x.shape))],
                                  [helper.make_tensor_value_info("y", TP.FLOAT, list(x.shape))])
            m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
            m.ir_version = 8
            write_case(root, f"{op.lower()}_edges_opset{opset}", m, {"x": x})
    return 4


def test_softmax_edge_rows_match_onnxruntime():
    root = tempfile.mkdtemp(prefix="onnxd_softmax_")
    try:
        n = _cases(root)
        res = run_onnxd(root)
        assert len(res) == n, f"{len(res)} of {n} cases ran"
        failed = {k: v for k, v in res.items() if v}
        assert not failed, "\n".join(f"{k}: {v}" for k, v in sorted(failed.items()))
    finally:
        shutil.rmtree(root, ignore_errors=True)

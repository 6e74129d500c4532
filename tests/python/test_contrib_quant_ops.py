"""com.microsoft quantized ops (what onnxruntime.quantization writes in QOperator format) against
onnxruntime, exactly (integer outputs must be equal): QLinearAdd / QLinearMul with broadcasting,
QGemm (transposes, alpha, per-column weights, int32 bias, quantized and float output),
QLinearConcat (requantized and copied inputs), QLinearGlobalAveragePool (NCHW and channels_last),
QLinearSigmoid, QLinearLeakyRelu; uint8 and int8.

    .venv/bin/python -m pytest tests/python/test_contrib_quant_ops.py   (ONNXD_NODE_SUITE=path to pick the suite)
"""
import os
import shutil
import sys
import tempfile

import numpy as np
from onnx import TensorProto, helper, numpy_helper

sys.path.insert(0, os.path.dirname(__file__))
from ml_oracle import run_onnxd, write_case  # noqa: E402

MS = "com.microsoft"
QTYPES = {np.uint8: TensorProto.UINT8, np.int8: TensorProto.INT8}


def _model(node, feeds, consts, out_type, opset=17):
    inits = [numpy_helper.from_array(np.asarray(v), k) for k, v in consts.items()]
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info(k, helper.np_dtype_to_tensor_dtype(v.dtype), v.shape)
                                        for k, v in feeds.items()],
                          [helper.make_tensor_value_info("Y", out_type, None)], initializer=inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset), helper.make_opsetid(MS, 1)])
    m.ir_version = 8
    return m


def _q(rng, shape, qt):
    info = np.iinfo(qt)
    return rng.integers(info.min, info.max + 1, size=shape).astype(qt)


def _zp(rng, qt):
    return np.array(rng.integers(0, 256) if qt == np.uint8 else rng.integers(-128, 128), dtype=qt)


def binary_cases(root, rng):
    for op in ["QLinearAdd", "QLinearMul"]:
        for qt in (np.uint8, np.int8):
            for sa, sb in [((2, 3, 4, 5), (2, 3, 4, 5)), ((2, 3, 4, 5), (5,)), ((3, 1, 5), (1, 4, 1)), ((7,), ())]:
                feeds = {"A": _q(rng, sa, qt), "B": _q(rng, sb, qt)}
                consts = {"as": np.float32(rng.uniform(0.01, 0.1)), "az": _zp(rng, qt),
                          "bs": np.float32(rng.uniform(0.01, 0.1)), "bz": _zp(rng, qt),
                          "cs": np.float32(rng.uniform(0.02, 0.2) * (4 if op == "QLinearMul" else 1)),
                          "cz": _zp(rng, qt)}
                node = helper.make_node(op, ["A", "as", "az", "B", "bs", "bz", "cs", "cz"], ["Y"], domain=MS)
                name = f"{op}_{qt.__name__}_{len(sa)}_{len(sb)}"
                write_case(root, name, _model(node, feeds, consts, QTYPES[qt]), feeds)
            # Scales whose ratios are exactly 1/2 put every odd value on a rounding tie, with an odd
            # output zero point: shows whether the zero point joins before or after rounding.
            feeds = {"A": _q(rng, (64,), qt), "B": _q(rng, (64,), qt)}
            consts = {"as": np.float32(0.25), "az": np.array(3, qt), "bs": np.float32(0.25), "bz": np.array(1, qt),
                      "cs": np.float32(0.5 if op == "QLinearAdd" else 0.125), "cz": np.array(5, qt)}
            node = helper.make_node(op, ["A", "as", "az", "B", "bs", "bz", "cs", "cz"], ["Y"], domain=MS)
            write_case(root, f"{op}_{qt.__name__}_ties", _model(node, feeds, consts, QTYPES[qt]), feeds)


def qgemm_cases(root, rng):
    for qa, qb in [(np.uint8, np.int8), (np.uint8, np.uint8), (np.int8, np.int8)]:
        for ta, tb in [(0, 0), (1, 0), (0, 1)]:
            for per_col, bias, quant_out, alpha in [(False, True, True, 1.0), (True, True, True, 1.0),
                                                    (False, False, False, 1.0), (True, True, False, 0.5),
                                                    (False, True, True, 2.0)]:
                M, K, N = 5, 37, 11
                a = _q(rng, (K, M) if ta else (M, K), qa)
                b = _q(rng, (N, K) if tb else (K, N), qb)
                consts = {"as": np.float32(rng.uniform(0.01, 0.05)), "az": _zp(rng, qa), "B": b,
                          "bs": (rng.uniform(0.001, 0.01, N).astype(np.float32) if per_col
                                 else np.float32(rng.uniform(0.001, 0.01))),
                          "bz": (np.zeros(N, qb) if per_col else _zp(rng, qb) if qb == np.uint8 else np.array(0, qb))}
                inputs = ["A", "as", "az", "B", "bs", "bz"]
                if bias:
                    consts["C"] = rng.integers(-5000, 5000, N).astype(np.int32)
                    inputs.append("C")
                else:
                    inputs.append("")
                if quant_out:
                    consts["ys"] = np.float32(rng.uniform(0.5, 2.0))
                    consts["yz"] = _zp(rng, qa)
                    inputs += ["ys", "yz"]
                node = helper.make_node("QGemm", inputs, ["Y"], domain=MS, transA=ta, transB=tb, alpha=alpha)
                out_type = QTYPES[qa] if quant_out else TensorProto.FLOAT
                name = (f"qgemm_{qa.__name__}_{qb.__name__}_t{ta}{tb}_{'col' if per_col else 'tensor'}"
                        f"_{'bias' if bias else 'nobias'}_{'q' if quant_out else 'f'}_a{alpha}").replace(".", "p")
                write_case(root, name, _model(node, {"A": a}, consts, out_type), {"A": a})


def concat_cases(root, rng):
    for qt in (np.uint8, np.int8):
        for axis in [1, -1, 0]:
            xs = [_q(rng, (2, 3, 4), qt), _q(rng, (2, 3, 4), qt), _q(rng, (2, 3, 4), qt)]
            ys, yz = np.float32(0.05), _zp(rng, qt)
            consts = {"ys": ys, "yz": yz, "s0": np.float32(0.03), "z0": _zp(rng, qt),
                      "s1": ys, "z1": yz,   # same as the output: copied
                      "s2": np.float32(0.11), "z2": _zp(rng, qt)}
            feeds = {f"x{i}": x for i, x in enumerate(xs)}
            node = helper.make_node("QLinearConcat", ["ys", "yz", "x0", "s0", "z0", "x1", "s1", "z1", "x2", "s2", "z2"],
                                    ["Y"], domain=MS, axis=axis)
            write_case(root, f"qconcat_{qt.__name__}_{axis}".replace("-", "m"), _model(node, feeds, consts, QTYPES[qt]),
                       feeds)


def pool_and_unary_cases(root, rng):
    for qt in (np.uint8, np.int8):
        for channels_last, shape in [(0, (2, 5, 7, 6)), (1, (2, 7, 6, 5)), (0, (1, 3, 9)), (0, (1, 64, 2, 2))]:
            x = _q(rng, shape, qt)
            consts = {"xs": np.float32(0.04), "xz": _zp(rng, qt), "ys": np.float32(0.02), "yz": _zp(rng, qt)}
            node = helper.make_node("QLinearGlobalAveragePool", ["X", "xs", "xz", "ys", "yz"], ["Y"], domain=MS,
                                    channels_last=channels_last)
            write_case(root, f"qgap_{qt.__name__}_{channels_last}_{len(shape)}", _model(node, {"X": x}, consts, QTYPES[qt]),
                       {"X": x})
        for op, attrs in [("QLinearSigmoid", {}), ("QLinearLeakyRelu", {"alpha": 0.1}), ("QLinearLeakyRelu", {})]:
            x = np.arange(np.iinfo(qt).min, np.iinfo(qt).max + 1).astype(qt).reshape(16, 16)   # every value
            consts = {"xs": np.float32(0.05), "xz": _zp(rng, qt), "ys": np.float32(1 / 255 if op == "QLinearSigmoid" else 0.04),
                      "yz": np.array(0 if qt == np.uint8 and op == "QLinearSigmoid" else _zp(rng, qt), qt)}
            node = helper.make_node(op, ["X", "xs", "xz", "ys", "yz"], ["Y"], domain=MS, **attrs)
            write_case(root, f"{op}_{qt.__name__}_{len(attrs)}", _model(node, {"X": x}, consts, QTYPES[qt]), {"X": x})


def test_contrib_quant_ops_match_onnxruntime():
    rng = np.random.default_rng(0)
    root = tempfile.mkdtemp(prefix="onnxd_msq_")
    try:
        n = 0
        for f in (binary_cases, qgemm_cases, concat_cases, pool_and_unary_cases):
            f(root, rng)
        n = len(os.listdir(root))
        res = run_onnxd(root)
        assert len(res) == n, f"{len(res)} of {n} cases ran"
        failed = {k: v for k, v in res.items() if v}
        assert not failed, "\n".join(f"{k}: {v}" for k, v in sorted(failed.items()))
    finally:
        shutil.rmtree(root, ignore_errors=True)

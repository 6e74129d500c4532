"""Narrow element types (float8 x4, float8e8m0, float4e2m1, int4/uint4, int2/uint2) against
onnxruntime, on far more values than the node suite's 15 per case: every float16 value, the
format boundaries and random float32s through Cast (saturating and not), every bit pattern
decoded, data-movement ops on odd element counts, packed initializers, and QuantizeLinear /
DequantizeLinear per tensor, per axis and blocked.

onnxruntime's Python API cannot feed or return these types, so each model casts a float input
into the narrow type, applies the op, and casts back to float: the narrow value itself is compared
(decoding is exact). Where onnxruntime lacks a kernel (float4e2m1, some narrow-type ops) the
onnx reference implementation (ml_dtypes) is the oracle; `ORACLE` records which answered.

onnxd follows the ONNX reference, which the node suite encodes, where onnxruntime 1.32 departs
from it; those cases take the reference as oracle (REFERENCE_ONLY says why), and
test_onnxruntime_departures_are_the_known_ones pins the departures down so a change shows.

    .venv/bin/python -m pytest tests/python/test_narrow_types.py
"""
import os
import shutil
import sys
import tempfile

import ml_dtypes
import numpy as np
import onnxruntime as ort
from onnx import TensorProto as TP
from onnx import helper, numpy_helper
from onnx.reference import ReferenceEvaluator

sys.path.insert(0, os.path.dirname(__file__))
from ml_oracle import run_onnxd, write_case  # noqa: E402

F = TP.FLOAT
FLOAT8 = ["FLOAT8E4M3FN", "FLOAT8E4M3FNUZ", "FLOAT8E5M2", "FLOAT8E5M2FNUZ"]
NARROW_INT = ["INT4", "UINT4", "INT2", "UINT2"]
ORACLE = {}


def _model(nodes, inputs, outputs, initializers=(), opset=25):
    g = helper.make_graph(nodes, "g", inputs, outputs, initializer=list(initializers))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 11
    return m


# Where onnxruntime 1.32 and the ONNX reference disagree (onnxd follows the reference).
REFERENCE_ONLY = {
    # Fractional floats to int4/uint4/int2/uint2: the reference truncates toward zero (like every
    # other float->int Cast), onnxruntime rounds half away from zero. Both then wrap.
    "cast_float_int4": "rounds", "cast_float_uint4": "rounds", "cast_float_int2": "rounds",
    "cast_float_uint2": "rounds", "cast_chain_narrow": "rounds",
    # saturate=0: magnitudes in (464, 496) round past 448 onto the NaN code: NaN in the reference,
    # 448 (of either sign) in onnxruntime.
    "cast_float_float8e4m3fn_sat0": "overflow",
    # saturate=0: 61440 and above overflow to inf in the reference (IEEE-like e5m2); onnxruntime gives NaN.
    "cast_float_float8e5m2_sat0": "overflow to NaN",
    # float8e8m0: onnxruntime maps negatives and (unsaturated) zero to NaN and saturates inf; the
    # reference (numpy_helper.to_float8e8m0) ignores the sign and keeps inf/NaN as NaN.
    **{f"cast_float_e8m0_{m}_sat{s}": "e8m0" for m in ("up", "down", "nearest") for s in (0, 1)},
}


def _expected(name, model, feeds):
    """onnxruntime's outputs, else the onnx reference's."""
    if name in REFERENCE_ONLY:
        ORACLE[name] = "onnx reference"
        return ReferenceEvaluator(model).run(None, feeds)
    try:
        sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        out = sess.run(None, feeds)
        ORACLE[name] = "onnxruntime"
    except Exception:  # noqa: BLE001  onnxruntime has no kernel for this type / op
        out = ReferenceEvaluator(model).run(None, feeds)
        ORACLE[name] = "onnx reference"
    return out


def _case(root, name, model, feeds):
    write_case(root, name, model, feeds, outputs=_expected(name, model, feeds))


def probe_values():
    """Every float16 value as float32, the float8/float4 boundaries and ties, random float32s."""
    rng = np.random.default_rng(7)
    halves = np.arange(65536, dtype=np.uint16).view(np.float16).astype(np.float32)
    edges = []
    for t in (ml_dtypes.float8_e4m3fn, ml_dtypes.float8_e4m3fnuz, ml_dtypes.float8_e5m2, ml_dtypes.float8_e5m2fnuz,
              ml_dtypes.float4_e2m1fn):
        codes = np.arange(256 if t != ml_dtypes.float4_e2m1fn else 16, dtype=np.uint8)
        vals = codes.view(t) if t != ml_dtypes.float4_e2m1fn else codes.astype(np.float32).astype(t)
        v = np.unique(np.abs(vals.astype(np.float32)[np.isfinite(vals.astype(np.float32))]))
        mids = (v[1:] + v[:-1]) / 2  # exact ties between neighbours
        edges += [v, mids, np.nextafter(mids, np.float32(0)), np.nextafter(mids, np.float32(np.inf))]
        top = v[-1] + (v[-1] - v[-2]) / 2  # the overflow threshold and its neighbours
        edges.append(np.array([top, np.nextafter(top, np.float32(0)), np.nextafter(top, np.float32(np.inf))], np.float32))
    e = np.concatenate(edges).astype(np.float32)
    rnd = (rng.standard_normal(20000) * np.exp2(rng.integers(-20, 20, 20000))).astype(np.float32)
    tiny = np.array([1e-45, -1e-45, 1e-40, np.float32(2.0 ** -126), np.float32(3e38), -3e38], np.float32)
    return np.concatenate([halves, e, -e, rnd, tiny]).astype(np.float32)


def cast_cases(root):
    x = probe_values()
    for t in FLOAT8:
        for sat in (1, 0):
            nodes = [helper.make_node("Cast", ["x"], ["q"], to=getattr(TP, t), saturate=sat),
                     helper.make_node("Cast", ["q"], ["y"], to=F)]
            m = _model(nodes, [helper.make_tensor_value_info("x", F, [x.size])], [helper.make_tensor_value_info("y", F, None)])
            _case(root, f"cast_float_{t.lower()}_sat{sat}", m, {"x": x})
        # From float16, the other common source.
        nodes = [helper.make_node("Cast", ["x"], ["q"], to=getattr(TP, t)), helper.make_node("Cast", ["q"], ["y"], to=TP.FLOAT16)]
        m = _model(nodes, [helper.make_tensor_value_info("x", TP.FLOAT16, [x.size])],
                   [helper.make_tensor_value_info("y", TP.FLOAT16, None)])
        _case(root, f"cast_float16_{t.lower()}", m, {"x": x.astype(np.float16)})
    nodes = [helper.make_node("Cast", ["x"], ["q"], to=TP.FLOAT4E2M1), helper.make_node("Cast", ["q"], ["y"], to=F)]
    m = _model(nodes, [helper.make_tensor_value_info("x", F, [x.size])], [helper.make_tensor_value_info("y", F, None)])
    _case(root, "cast_float_float4e2m1", m, {"x": x})
    for mode in ("up", "down", "nearest"):
        for sat in (1, 0):
            nodes = [helper.make_node("Cast", ["x"], ["q"], to=TP.FLOAT8E8M0, saturate=sat, round_mode=mode),
                     helper.make_node("Cast", ["q"], ["y"], to=F)]
            m = _model(nodes, [helper.make_tensor_value_info("x", F, [x.size])], [helper.make_tensor_value_info("y", F, None)])
            _case(root, f"cast_float_e8m0_{mode}_sat{sat}", m, {"x": np.abs(x)})
    # Integers wrap (two's complement), floats truncate toward zero first.
    ints = np.arange(-300, 300, dtype=np.int32)
    fl = np.concatenate([np.arange(-40, 40, 0.25, dtype=np.float32), [1e10, -1e10, np.nan, np.inf]]).astype(np.float32)
    for t in NARROW_INT:
        for src, feed, name in ((TP.INT32, ints, "int32"), (F, fl, "float")):
            nodes = [helper.make_node("Cast", ["x"], ["q"], to=getattr(TP, t)), helper.make_node("Cast", ["q"], ["y"], to=TP.INT32)]
            m = _model(nodes, [helper.make_tensor_value_info("x", src, [feed.size])],
                       [helper.make_tensor_value_info("y", TP.INT32, None)])
            _case(root, f"cast_{name}_{t.lower()}", m, {"x": feed})
    # Narrow to narrow: float8 -> int4 -> float8e5m2.
    nodes = [helper.make_node("Cast", ["x"], ["a"], to=TP.FLOAT8E4M3FN), helper.make_node("Cast", ["a"], ["b"], to=TP.INT4),
             helper.make_node("Cast", ["b"], ["c"], to=TP.FLOAT8E5M2), helper.make_node("Cast", ["c"], ["y"], to=F)]
    m = _model(nodes, [helper.make_tensor_value_info("x", F, [fl.size])], [helper.make_tensor_value_info("y", F, None)])
    _case(root, "cast_chain_narrow", m, {"x": fl})


def decode_cases(root):
    """Every bit pattern of each narrow float as a model input, decoded by Cast to float."""
    for t, dt, n in [(TP.FLOAT8E4M3FN, ml_dtypes.float8_e4m3fn, 256), (TP.FLOAT8E4M3FNUZ, ml_dtypes.float8_e4m3fnuz, 256),
                     (TP.FLOAT8E5M2, ml_dtypes.float8_e5m2, 256), (TP.FLOAT8E5M2FNUZ, ml_dtypes.float8_e5m2fnuz, 256),
                     (TP.FLOAT8E8M0, ml_dtypes.float8_e8m0fnu, 256), (TP.FLOAT4E2M1, ml_dtypes.float4_e2m1fn, 16)]:
        codes = np.arange(n, dtype=np.uint8).view(dt)
        m = _model([helper.make_node("Cast", ["x"], ["y"], to=F)], [helper.make_tensor_value_info("x", t, [n])],
                   [helper.make_tensor_value_info("y", F, None)])
        name = f"decode_{helper.tensor_dtype_to_string(t).split('.')[-1].lower()}"
        out = ReferenceEvaluator(m).run(None, {"x": codes})
        ORACLE[name] = "onnx reference"
        write_case(root, name, m, {"x": codes}, outputs=out)


def movement_cases(root):
    """Data-movement ops on narrow values, odd element counts (a packed byte shared by two rows)."""
    rng = np.random.default_rng(3)
    x = rng.integers(-8, 8, size=(3, 5, 7)).astype(np.float32)
    ops = {
        "transpose": ([helper.make_node("Transpose", ["q"], ["r"], perm=[2, 0, 1])], []),
        "reshape": ([helper.make_node("Reshape", ["q", "s"], ["r"])],
                    [numpy_helper.from_array(np.array([7, 15], np.int64), "s")]),
        "flatten": ([helper.make_node("Flatten", ["q"], ["r"], axis=2)], []),
        "squeeze_unsqueeze": ([helper.make_node("Unsqueeze", ["q", "a"], ["u"]), helper.make_node("Squeeze", ["u", "a"], ["r"])],
                              [numpy_helper.from_array(np.array([1], np.int64), "a")]),
        "identity": ([helper.make_node("Identity", ["q"], ["r"])], []),
        "concat": ([helper.make_node("Concat", ["q", "q"], ["r"], axis=1)], []),
        "slice": ([helper.make_node("Slice", ["q", "st", "en", "ax", "sp"], ["r"])],
                  [numpy_helper.from_array(np.array([1, 6], np.int64), "st"), numpy_helper.from_array(np.array([5, 0], np.int64), "en"),
                   numpy_helper.from_array(np.array([1, 2], np.int64), "ax"), numpy_helper.from_array(np.array([2, -2], np.int64), "sp")]),
        "gather": ([helper.make_node("Gather", ["q", "i"], ["r"], axis=2)],
                   [numpy_helper.from_array(np.array([6, 0, 3], np.int64), "i")]),
        "pad": ([helper.make_node("Pad", ["q", "p"], ["r"])],
                [numpy_helper.from_array(np.array([0, 1, 0, 1, 0, 2], np.int64), "p")]),
    }
    for t in ["INT4", "UINT4", "INT2", "FLOAT8E4M3FN", "FLOAT4E2M1"]:
        src = x if t != "UINT4" else np.abs(x)
        if t == "INT2":
            src = np.clip(x, -2, 1)
        for op, (nodes, inits) in ops.items():
            allnodes = [helper.make_node("Cast", ["x"], ["q"], to=getattr(TP, t)), *nodes,
                        helper.make_node("Cast", ["r"], ["y"], to=F)]
            m = _model(allnodes, [helper.make_tensor_value_info("x", F, list(x.shape))],
                       [helper.make_tensor_value_info("y", F, None)], inits)
            _case(root, f"move_{op}_{t.lower()}", m, {"x": src})
    # Shape and Size of a narrow tensor.
    nodes = [helper.make_node("Cast", ["x"], ["q"], to=TP.INT4), helper.make_node("Shape", ["q"], ["s"]),
             helper.make_node("Size", ["q"], ["n"])]
    m = _model(nodes, [helper.make_tensor_value_info("x", F, list(x.shape))],
               [helper.make_tensor_value_info("s", TP.INT64, None), helper.make_tensor_value_info("n", TP.INT64, None)])
    _case(root, "move_shape_size_int4", m, {"x": x})


def initializer_cases(root):
    """Packed initializers with odd counts, in raw_data and in int32_data, and an int4 Constant."""
    rng = np.random.default_rng(5)
    for t, lo, hi in [(TP.INT4, -8, 8), (TP.UINT4, 0, 16), (TP.INT2, -2, 2), (TP.UINT2, 0, 4)]:
        vals = rng.integers(lo, hi, size=(3, 7))
        for raw in (True, False):
            w = helper.make_tensor("w", t, [3, 7], vals.flatten().tolist(), raw=False)
            if raw:  # the same values through numpy_helper's packed raw_data
                dt = {TP.INT4: ml_dtypes.int4, TP.UINT4: ml_dtypes.uint4, TP.INT2: ml_dtypes.int2, TP.UINT2: ml_dtypes.uint2}[t]
                w = numpy_helper.from_array(vals.astype(dt), "w")
            nodes = [helper.make_node("Cast", ["w"], ["wf"], to=F), helper.make_node("Add", ["x", "wf"], ["y"])]
            m = _model(nodes, [helper.make_tensor_value_info("x", F, [3, 7])], [helper.make_tensor_value_info("y", F, None)], [w])
            tname = helper.tensor_dtype_to_string(t).split(".")[-1].lower()
            _case(root, f"init_{tname}_{'raw' if raw else 'int32_data'}", m, {"x": np.zeros((3, 7), np.float32)})
    vals = rng.standard_normal(11).astype(np.float32).astype(ml_dtypes.float8_e5m2)
    c = helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(vals, "v"))
    m = _model([c, helper.make_node("Cast", ["c"], ["y"], to=F)], [], [helper.make_tensor_value_info("y", F, None)])
    _case(root, "init_constant_float8e5m2", m, {})


def quant_cases(root):
    """QuantizeLinear into each narrow type and DequantizeLinear back."""
    rng = np.random.default_rng(11)
    x = (rng.standard_normal((4, 6, 8)) * 3).astype(np.float32)
    layouts = {
        "tensor": (dict(), (), ()),
        "axis": (dict(axis=1), (6,), (6,)),
        "blocked": (dict(axis=2, block_size=3), (4, 6, 3), (4, 6, 3)),
    }
    for t in NARROW_INT + FLOAT8 + ["FLOAT4E2M1"]:
        for lname, (attrs, sshape, zshape) in layouts.items():
            scale = (rng.random(sshape) * 0.5 + 0.1).astype(np.float32)
            tt = getattr(TP, t)
            if t in NARROW_INT:
                lo, hi = {"INT4": (-8, 8), "UINT4": (0, 16), "INT2": (-2, 2), "UINT2": (0, 4)}[t]
                zp = helper.make_tensor("zp", tt, list(zshape), rng.integers(lo, hi, size=zshape).flatten().tolist() or [0])
            else:
                zp = helper.make_tensor("zp", tt, list(zshape), np.zeros(int(np.prod(zshape)), np.float32).tolist(), raw=False) \
                    if t != "FLOAT4E2M1" else numpy_helper.from_array(np.zeros(zshape, ml_dtypes.float4_e2m1fn), "zp")
            nodes = [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["q"], **attrs),
                     helper.make_node("DequantizeLinear", ["q", "s", "zp"], ["y"], **attrs)]
            m = _model(nodes, [helper.make_tensor_value_info("x", F, list(x.shape))], [helper.make_tensor_value_info("y", F, None)],
                       [numpy_helper.from_array(scale, "s"), zp])
            _case(root, f"qdq_{t.lower()}_{lname}", m, {"x": x})
    # float8 without saturation: out-of-range values become inf / NaN.
    for t in FLOAT8:
        nodes = [helper.make_node("QuantizeLinear", ["x", "s"], ["q"], saturate=0, output_dtype=getattr(TP, t)),
                 helper.make_node("DequantizeLinear", ["q", "s"], ["y"])]
        m = _model(nodes, [helper.make_tensor_value_info("x", F, [8])], [helper.make_tensor_value_info("y", F, None)],
                   [numpy_helper.from_array(np.array(0.001, np.float32), "s")])
        _case(root, f"qdq_{t.lower()}_nosat", m, {"x": np.array([0.1, -0.2, 100, -100, 1e4, np.inf, -np.inf, np.nan], np.float32)})


ALL_CASES = [cast_cases, decode_cases, movement_cases, initializer_cases, quant_cases]


def test_onnxruntime_departures_are_the_known_ones():
    """Each REFERENCE_ONLY case really differs between onnxruntime and the reference, and only
    on the inputs named there; if onnxruntime changes, this says which entry to drop."""
    root = tempfile.mkdtemp(prefix="onnxd_narrow_ort_")
    try:
        cast_cases(root)  # writes the cases; the models are re-read below
        import onnx
        for name in REFERENCE_ONLY:
            m = onnx.load(os.path.join(root, name, "model.onnx"))
            x = numpy_helper.to_array(onnx.load_tensor(os.path.join(root, name, "test_data_set_0", "input_0.pb")))
            ref = ReferenceEvaluator(m).run(None, {"x": x})[0]
            got = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
            same = (ref == got) | (np.isnan(ref.astype(np.float32)) & np.isnan(got.astype(np.float32)))
            assert not same.all(), f"{name}: onnxruntime now agrees with the reference; drop it from REFERENCE_ONLY"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _run_all(root):
    for f in ALL_CASES:
        f(root)
    return run_onnxd(root)


def test_narrow_types_match_the_oracles():
    root = tempfile.mkdtemp(prefix="onnxd_narrow_")
    try:
        res = _run_all(root)
        assert len(res) > 80, f"only {len(res)} cases ran"
        failed = {k: v for k, v in res.items() if v}
        assert not failed, "\n".join(f"{k} ({ORACLE.get(k)}): {v}" for k, v in sorted(failed.items()))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else "/tmp/narrow_cases"
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    res = _run_all(root)
    for k, v in sorted(res.items()):
        print("PASS" if not v else "FAIL", k, f"[{ORACLE.get(k)}]", v[:300])
    print(sum(1 for v in res.values() if not v), "of", len(res), "pass")

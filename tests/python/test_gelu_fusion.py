"""The GELU fusion pass (engine/passes/fuse_gelu.cc) on models built here: the erf form as the
TorchScript exporter writes it and the tanh form as GPT-2's dynamo export writes it, at opsets below
and at 20. Each model's output from `onnxd run` must match onnxruntime's, and the compiled plan
(`onnxd inspect --device cpu`) must hold one Gelu per chain and none of the chain's ops.

    .venv/bin/python -m pytest tests/python/test_gelu_fusion.py     # ONNXD=build-x/onnxd picks the binary
"""
import os
import pathlib
import subprocess

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as TP
from onnx import helper, numpy_helper

ROOT = pathlib.Path(__file__).resolve().parents[2]
ONNXD = pathlib.Path(os.environ.get("ONNXD", ROOT / "build" / "onnxd"))
SHAPE = [3, 5, 67]  # [batch, tokens, features]: 67 leaves SIMD tails


def _const(inits, name, value, use_constant_node, nodes):
    t = numpy_helper.from_array(np.array(value, np.float32), name)
    if use_constant_node:
        nodes.append(helper.make_node("Constant", [], [name], value=t))
    else:
        inits.append(t)
    return name


def _model(form, opset, constant_nodes):
    """x -> MatMul (so x is an intermediate, as in a BERT FFN) -> GELU chain -> y."""
    rng = np.random.default_rng(3)
    nodes, inits = [], [numpy_helper.from_array(rng.uniform(-1, 1, (67, 67)).astype(np.float32), "w")]
    nodes.append(helper.make_node("MatMul", ["inp", "w"], ["x"]))
    c = lambda name, v: _const(inits, name, v, constant_nodes, nodes)  # noqa: E731
    if form == "erf_torchscript":  # Div -> Erf -> Add -> Mul(x, .) -> Mul(., 0.5)
        nodes += [helper.make_node("Div", ["x", c("sqrt2", 1.4142135381698608)], ["d"]),
                  helper.make_node("Erf", ["d"], ["e"]),
                  helper.make_node("Add", ["e", c("one", 1.0)], ["s"]),
                  helper.make_node("Mul", ["x", "s"], ["p"]),
                  helper.make_node("Mul", ["p", c("half", 0.5)], ["y"])]
    elif form == "erf_dynamo":  # Mul by 1/sqrt 2, the 0.5 applied to x first, operands commuted
        nodes += [helper.make_node("Mul", [c("rsqrt2", 0.7071067690849304), "x"], ["d"]),
                  helper.make_node("Erf", ["d"], ["e"]),
                  helper.make_node("Add", [c("one", 1.0), "e"], ["s"]),
                  helper.make_node("Mul", [c("half", 0.5), "x"], ["h"]),
                  helper.make_node("Mul", ["s", "h"], ["y"])]
    elif form == "tanh_pow":  # GPT-2's dynamo export
        nodes += [helper.make_node("Mul", ["x", c("half", 0.5)], ["h"]),
                  helper.make_node("Pow", ["x", c("three", 3.0)], ["cube"]),
                  helper.make_node("Mul", ["cube", c("k", 0.044715)], ["kc"]),
                  helper.make_node("Add", ["x", "kc"], ["inner"]),
                  helper.make_node("Mul", ["inner", c("s2pi", 0.7978845834732056)], ["z"]),
                  helper.make_node("Tanh", ["z"], ["t"]),
                  helper.make_node("Add", ["t", c("one", 1.0)], ["s"]),
                  helper.make_node("Mul", ["h", "s"], ["y"])]
    elif form == "tanh_mulmul":  # x*x*x, 0.5 last
        nodes += [helper.make_node("Mul", ["x", "x"], ["sq"]),
                  helper.make_node("Mul", ["x", "sq"], ["cube"]),
                  helper.make_node("Mul", [c("k", 0.044715), "cube"], ["kc"]),
                  helper.make_node("Add", ["kc", "x"], ["inner"]),
                  helper.make_node("Mul", [c("s2pi", 0.7978845834732056), "inner"], ["z"]),
                  helper.make_node("Tanh", ["z"], ["t"]),
                  helper.make_node("Add", [c("one", 1.0), "t"], ["s"]),
                  helper.make_node("Mul", ["s", "x"], ["p"]),
                  helper.make_node("Mul", [c("half", 0.5), "p"], ["y"])]
    elif form == "erf_shared":  # the Erf output is read again: must not fuse
        nodes += [helper.make_node("Div", ["x", c("sqrt2", 1.4142135381698608)], ["d"]),
                  helper.make_node("Erf", ["d"], ["e"]),
                  helper.make_node("Add", ["e", c("one", 1.0)], ["s"]),
                  helper.make_node("Mul", ["x", "s"], ["p"]),
                  helper.make_node("Mul", ["p", c("half", 0.5)], ["y0"]),
                  helper.make_node("Add", ["y0", "e"], ["y"])]
    elif form == "erf_wrong_half":  # 0.6 instead of 0.5: must not fuse
        nodes += [helper.make_node("Div", ["x", c("sqrt2", 1.4142135381698608)], ["d"]),
                  helper.make_node("Erf", ["d"], ["e"]),
                  helper.make_node("Add", ["e", c("one", 1.0)], ["s"]),
                  helper.make_node("Mul", ["x", "s"], ["p"]),
                  helper.make_node("Mul", ["p", c("half", 0.6)], ["y"])]
    g = helper.make_graph(nodes, form, [helper.make_tensor_value_info("inp", TP.FLOAT, SHAPE)],
                          [helper.make_tensor_value_info("y", TP.FLOAT, SHAPE)], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    return m


def _compiled_ops(path):
    """Op types of the compiled plan, from `onnxd inspect --device cpu` (one line per node)."""
    out = subprocess.run([str(ONNXD), "inspect", str(path), "--device", "cpu"], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    plan = out[out.index("placement"):out.index("copies per run")].splitlines()[1:]
    return [line.split()[2] for line in plan]


def _run_onnxd(path, x, work):
    inp = work / "inp.pb"
    inp.write_bytes(numpy_helper.from_array(x, "inp").SerializeToString())
    out_dir = work / "out"
    subprocess.run([str(ONNXD), "run", str(path), "--input", f"inp={inp}", "--output-dir", str(out_dir)],
                   capture_output=True, text=True, timeout=120, check=True)
    t = onnx.TensorProto()
    t.ParseFromString((out_dir / "output_0.pb").read_bytes())
    return numpy_helper.to_array(t)


CASES = [(form, opset, cn) for form in ("erf_torchscript", "erf_dynamo", "tanh_pow", "tanh_mulmul")
         for opset in (13, 17, 20) for cn in (False, True)]
CASES += [("erf_shared", 17, False), ("erf_wrong_half", 17, False), ("erf_wrong_half", 17, True)]


@pytest.mark.parametrize("form,opset,constant_nodes", CASES)
def test_gelu_chain_matches_onnxruntime_and_fuses(tmp_path, form, opset, constant_nodes):
    if not ONNXD.exists():
        pytest.fail(f"{ONNXD} is missing: build first")
    m = _model(form, opset, constant_nodes)
    path = tmp_path / "model.onnx"
    onnx.save(m, str(path))
    # Values where GELU bends (|x| < 4) and its tails.
    x = np.random.default_rng(11).normal(0, 0.6, SHAPE).astype(np.float32)
    ours = _run_onnxd(path, x, tmp_path)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL  # ORT has its own Gelu fusion
    ref = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]).run(None, {"inp": x})[0]
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-5)

    ops = _compiled_ops(path)
    chain_ops = {"Erf", "Tanh", "Pow", "Div", "Add"}
    if form.startswith("erf_shared") or form.startswith("erf_wrong"):
        assert "Gelu" not in ops, ops
        assert "Erf" in ops, ops
    else:
        assert ops.count("Gelu") == 1, ops
        assert not chain_ops & set(ops), ops
        # MatMul and Gelu; Constant nodes that only fed the chain go with it.
        assert sorted(ops) == ["Gelu", "MatMul"], ops

"""Oracle helpers: run a model in onnxruntime, write it as a node-suite case, run onnxd on the cases.

    write_case(root, name, model, feeds)   # model.onnx + test_data_set_0/{input,output}_N.pb
    run_onnxd(root)                         # {case: "" on pass, else the reason}
"""
import os
import subprocess

import numpy as np
import onnx
import onnx.numpy_helper as nh
import onnxruntime as ort

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SUITE = os.environ.get("ONNXD_NODE_SUITE", os.path.join(REPO, "build", "tests", "onnxd_node_suite"))


def _map_proto(d, name=None):
    m = onnx.MapProto(key_type=onnx.TensorProto.STRING if isinstance(next(iter(d)), str) else onnx.TensorProto.INT64)
    if name:
        m.name = name
    if m.key_type == onnx.TensorProto.STRING:
        m.string_keys.extend([k.encode() for k in d])
    else:
        m.keys.extend([int(k) for k in d])
    m.values.elem_type = onnx.SequenceProto.TENSOR
    for v in d.values():
        v = np.asarray(v)
        m.values.tensor_values.append(nh.from_array(v.astype(np.float32) if v.dtype == np.float64 else v))
    return m


def _to_proto(value, name):
    if isinstance(value, list):
        if value and isinstance(value[0], dict):
            seq = onnx.SequenceProto(name=name, elem_type=onnx.SequenceProto.MAP)
            for d in value:
                seq.map_values.append(_map_proto(d))
            return seq
        return nh.from_list(value, name)
    if isinstance(value, dict):
        return _map_proto(value, name)
    return nh.from_array(np.asarray(value), name)


def ort_run(model, feeds):
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def write_case(root, name, model, feeds, outputs=None):
    d = os.path.join(root, name)
    os.makedirs(os.path.join(d, "test_data_set_0"), exist_ok=True)
    if outputs is None:
        outputs = ort_run(model, feeds)
    onnx.save(model, os.path.join(d, "model.onnx"))
    for i, inp in enumerate(model.graph.input):
        p = _to_proto(feeds[inp.name], inp.name)
        with open(os.path.join(d, "test_data_set_0", f"input_{i}.pb"), "wb") as f:
            f.write(p.SerializeToString())
    for i, (out, val) in enumerate(zip(model.graph.output, outputs)):
        p = _to_proto(val, out.name)
        with open(os.path.join(d, "test_data_set_0", f"output_{i}.pb"), "wb") as f:
            f.write(p.SerializeToString())
    return outputs


def run_onnxd(root, filt=None):
    cmd = [SUITE, "--data", root, "-v"]
    if filt:
        cmd += ["--filter", filt]
    out = subprocess.run(cmd, capture_output=True, text=True).stdout
    res = {}
    for line in out.splitlines():
        if line.startswith("PASS "):
            res[line[5:].strip()] = ""
        elif line.startswith("FAIL "):
            name, _, why = line[5:].partition(": ")
            res[name] = why or "failed"
    return res

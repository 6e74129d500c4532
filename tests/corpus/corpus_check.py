"""Runs a model through `onnxd run` and through onnxruntime on the same inputs and compares them.

Used by the CI corpus tests (tests/corpus/test_*.py) and by scripts/corpus_heavy.py.

    outs = run_onnxd(model_path, feeds, work_dir)     # the outputs onnxd wrote, in graph order
    refs = run_ort(model_path, feeds)
    compare(model_path, outs, refs)                   # -> (max abs err, max rel err, [problems])

Tolerances: float outputs within RTOL/ATOL below (|ours - ort| <= ATOL + RTOL * |ort|); labels
(integer and string tensors, map keys) exactly. ONNXD=path picks the binary (default build/onnxd).
"""
import os
import pathlib
import subprocess

import numpy as np
import onnx
import onnx.numpy_helper as nh

ROOT = pathlib.Path(__file__).resolve().parents[2]
ONNXD = pathlib.Path(os.environ.get("ONNXD", ROOT / "build" / "onnxd"))
RTOL = 1e-4
ATOL = 1e-5


def _map_to_dict(m):
    keys = [k.decode() for k in m.string_keys] if m.key_type == onnx.TensorProto.STRING else list(m.keys)
    values = [nh.to_array(t) for t in m.values.tensor_values]
    return dict(zip(keys, values))


def _read_output(path, type_proto):
    data = path.read_bytes()
    if type_proto.HasField("sequence_type"):
        seq = onnx.SequenceProto()
        seq.ParseFromString(data)
        if seq.elem_type == onnx.SequenceProto.MAP:
            return [_map_to_dict(m) for m in seq.map_values]
        return [nh.to_array(t) for t in seq.tensor_values]
    if type_proto.HasField("map_type"):
        m = onnx.MapProto()
        m.ParseFromString(data)
        return _map_to_dict(m)
    t = onnx.TensorProto()
    t.ParseFromString(data)
    return nh.to_array(t)


def run_onnxd(model_path, feeds, work_dir, extra_args=(), timeout=600):
    """`onnxd run` with one TensorProto .pb per input; returns its outputs in graph order."""
    work_dir = pathlib.Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    args = [str(ONNXD), "run", str(model_path), *extra_args]
    for i, (name, array) in enumerate(feeds.items()):
        array = np.asarray(array)
        if array.dtype.kind in "US":
            array = array.astype(object)
        path = work_dir / f"input_{i}.pb"
        path.write_bytes(nh.from_array(array, name).SerializeToString())
        args += ["--input", f"{name}={path}"]
    out_dir = work_dir / "out"
    args += ["--output-dir", str(out_dir)]
    proc = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        raise AssertionError(f"onnxd run {model_path} failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
    m = onnx.load(str(model_path), load_external_data=False)
    return [_read_output(out_dir / f"output_{i}.pb", o.type) for i, o in enumerate(m.graph.output)]


def run_ort(model_path, feeds):
    import onnxruntime as ort
    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    return sess.run(None, dict(feeds))


def _as_text(a):
    return np.vectorize(lambda s: s.decode() if isinstance(s, bytes) else str(s), otypes=[object])(a)


def _compare_arrays(name, ours, theirs, errs, problems):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    if ours.shape != theirs.shape:
        problems.append(f"{name}: shape {ours.shape} vs onnxruntime {theirs.shape}")
        return
    if theirs.dtype.kind in "OSU":
        if ours.size and not (_as_text(ours) == _as_text(theirs)).all():
            problems.append(f"{name}: strings differ")
        return
    if theirs.dtype.kind in "iub":
        if ours.size and not np.array_equal(ours.astype(theirs.dtype), theirs):
            bad = int(np.sum(ours.astype(theirs.dtype) != theirs))
            problems.append(f"{name}: {bad} of {theirs.size} labels/integers differ")
        return
    o, t = ours.astype(np.float64), theirs.astype(np.float64)
    if o.size == 0:
        return
    same_nan = np.isnan(o) == np.isnan(t)
    if not same_nan.all():
        problems.append(f"{name}: NaN in different places")
    ok = ~np.isnan(t) & ~np.isnan(o)
    diff = np.abs(o - t)[ok]
    if diff.size:
        errs[0] = max(errs[0], float(diff.max()))
        errs[1] = max(errs[1], float((diff / np.maximum(np.abs(t[ok]), 1e-12)).max()))
        bad = diff > ATOL + RTOL * np.abs(t[ok])
        if bad.any():
            problems.append(f"{name}: {int(bad.sum())} of {diff.size} values outside rtol {RTOL} atol {ATOL}"
                            f" (max abs err {diff.max():.3g})")


def _compare_values(name, ours, theirs, errs, problems):
    if isinstance(theirs, dict):
        if not isinstance(ours, dict):
            problems.append(f"{name}: not a map")
            return
        if sorted(map(str, ours)) != sorted(map(str, theirs)):
            problems.append(f"{name}: map keys {sorted(ours)} vs onnxruntime {sorted(theirs)}")
            return
        for k in theirs:
            _compare_arrays(f"{name}[{k!r}]", ours[k], np.asarray(theirs[k], dtype=np.float32), errs, problems)
    elif isinstance(theirs, list):
        if not isinstance(ours, list) or len(ours) != len(theirs):
            problems.append(f"{name}: sequence length differs")
            return
        for i, (a, b) in enumerate(zip(ours, theirs)):
            _compare_values(f"{name}[{i}]", a, b, errs, problems)
    else:
        _compare_arrays(name, ours, theirs, errs, problems)


def compare(model_path, ours, theirs):
    """Returns (max abs err, max rel err, problems) over every output; no problems means a pass."""
    m = onnx.load(str(model_path), load_external_data=False)
    errs, problems = [0.0, 0.0], []
    if len(ours) != len(theirs):
        problems.append(f"{len(ours)} outputs vs onnxruntime {len(theirs)}")
    for out, a, b in zip(m.graph.output, ours, theirs):
        _compare_values(out.name, a, b, errs, problems)
    return errs[0], errs[1], problems

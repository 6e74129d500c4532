"""The tiny transformer models of tests/data/transformers (BERT, DistilBERT, GPT-2, ViT, each from the
TorchScript and the dynamo exporter; scripts/make_transformer_models.py makes them) through
`onnxd run` at two shapes, checked against onnxruntime; and `onnxd inspect --device cuda` (the CUDA
plan, which needs no GPU) on each."""
import pathlib

import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort
import pytest

from onnxd_cli import run_onnxd

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "transformers"
MODELS = sorted(DATA.glob("*.onnx"))
VOCAB, IMAGE = 1000, 32
# (batch, sequence, which row is padded and from which side). Right padding masks keys at the end of
# a row. Left padding in a causal model (GPT-2) leaves the first query with no key at all: its
# scores row is all -inf (TorchScript export) or all float-min (dynamo), the case the IsNaN -> Where
# after the Softmax is there for.
SHAPES = [(2, 7, 1, "right"), (3, 16, 0, "left")]


def test_all_models_are_there():
    names = {p.name for p in MODELS}
    for model in ("bert", "distilbert", "gpt2", "vit"):
        for exporter in ("ts", "dynamo"):
            assert f"{model}_{exporter}.onnx" in names
    assert "bert_eager_ts.onnx" in names


def feeds_for(model_path, batch, seq, pad_row, side):
    rng = np.random.default_rng(batch * 100 + seq)
    if model_path.name.startswith("vit"):
        return {"pixel_values": rng.standard_normal((batch, 3, IMAGE, IMAGE)).astype(np.float32)}
    mask = np.ones((batch, seq), np.int64)
    keep = seq - seq // 3
    if side == "right":
        mask[pad_row, keep:] = 0
    else:
        mask[pad_row, :seq - keep] = 0
    return {"input_ids": rng.integers(0, VOCAB, (batch, seq)).astype(np.int64), "attention_mask": mask}


def onnxd_outputs(tmp_path, model_path, feeds):
    args = ["run", model_path]
    for name, array in feeds.items():
        path = tmp_path / f"{name}.npy"
        np.save(path, array)
        args += ["--input", f"{name}={path}"]
    out_dir = tmp_path / "out"
    run_onnxd(*args, "--output-dir", out_dir)
    outputs = []
    for i in range(len(onnx.load(str(model_path), load_external_data=False).graph.output)):
        t = onnx.TensorProto()
        t.ParseFromString((out_dir / f"output_{i}.pb").read_bytes())
        outputs.append(onnx.numpy_helper.to_array(t))
    return outputs


@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: f"b{s[0]}s{s[1]}{s[3]}")
@pytest.mark.parametrize("model_path", MODELS, ids=lambda p: p.stem)
def test_matches_onnxruntime(tmp_path, model_path, shape):
    feeds = feeds_for(model_path, *shape)
    theirs = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"]).run(None, feeds)
    ours = onnxd_outputs(tmp_path, model_path, feeds)
    assert len(ours) == len(theirs)
    batch, seq = shape[0], shape[1]
    for o, t in zip(ours, theirs):
        assert o.shape == t.shape
        assert o.shape[0] == batch and (model_path.name.startswith("vit") or o.shape[1] == seq)
        assert np.isfinite(t).all()
        np.testing.assert_allclose(o, t, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("model_path", MODELS, ids=lambda p: p.stem)
def test_inspect_cuda_plan(model_path):
    out = run_onnxd("inspect", model_path, "--device", "cuda").stdout
    assert "placement (--device cuda):" in out
    assert "unsupported ops: none" in out
    # The attention's batched MatMuls (scores and context) have a CUDA kernel.
    assert any(" cuda  MatMul " in line for line in out.splitlines())
    assert any(" cuda  Softmax " in line for line in out.splitlines())

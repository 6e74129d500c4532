"""The tiny transformer exports (tests/data/transformers) through the CUDA session on the CUDA
emulator (tests/cuda_emu/README.md), in fp32 and fp16, against onnxruntime on the CPU; and what
the session did, against what the planner planned: every attention block run as the fused
(flash) kernel in fp16, every softmax chain as one kernel in fp32, no run-time fallback, the
transposes that move data only where the export's Reshape merges axes apart in memory.

Run by scripts/test_cuda_emu.sh after it builds build-emu (skipped without that build):
    .venv/bin/python -m pytest -q tests/cuda_emu/test_models.py
"""
import json
import os
import re
import subprocess
import tempfile

import numpy as np
import onnxruntime as ort
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCH = os.path.join(os.environ.get("ONNXD_EMU_BUILD", os.path.join(ROOT, "build-emu")), "tests", "gpu",
                     "onnxd_gpu_model_bench")
MODELS = os.path.join(ROOT, "tests", "data", "transformers")
NAMES = ["bert_ts", "bert_dynamo", "bert_eager_ts", "distilbert_ts", "distilbert_dynamo", "gpt2_ts",
         "gpt2_dynamo", "vit_ts", "vit_dynamo"]
B, S = 3, 11

pytestmark = pytest.mark.skipif(not os.path.exists(BENCH), reason="no emulated build (scripts/test_cuda_emu.sh)")


def inputs_for(name):
    rng = np.random.default_rng(7)
    if name.startswith("vit"):
        return {"pixel_values": rng.uniform(-1, 1, (B, 3, 32, 32)).astype(np.float32)}
    mask = np.ones((B, S), np.int64)
    mask[1, 8:] = 0  # one row padded: the mask is not all ones
    return {"input_ids": rng.integers(0, 1000, (B, S), dtype=np.int64), "attention_mask": mask}


def run_emulated(path, feeds, fp16):
    with tempfile.TemporaryDirectory() as d:
        for k, v in feeds.items():
            v.tofile(os.path.join(d, k + ".bin"))
        out = os.path.join(d, "out.bin")
        cmd = [BENCH, path, "--device", "cuda", "--iterations", "2", "--warmup", "2", "--inputs-dir", d,
               "--output-file", out, "--batch", str(B), "--no-tune"]  # emulated timings choose nothing
        for k, v in feeds.items():
            cmd += ["--shape", f"{k}={'x'.join(map(str, v.shape))}"]
        if fp16:
            cmd.append("--fp16")
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, p.stderr[-2000:]
        report = json.loads(p.stdout.strip().splitlines()[-1])
        return report, np.fromfile(out, np.float32)


def planned(report, what):
    m = re.search(what + r" (\d+)", report["fusions"])
    assert m, report["fusions"]
    return int(m.group(1))


@pytest.mark.parametrize("fp16", [False, True], ids=["fp32", "fp16"])
@pytest.mark.parametrize("name", NAMES)
def test_transformer_on_the_emulated_gpu(name, fp16):
    path = os.path.join(MODELS, name + ".onnx")
    feeds = inputs_for(name)
    want = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    report, got = run_emulated(path, feeds, fp16)
    assert got.size == want.size, (got.size, want.shape)
    got = got.reshape(want.shape)
    # Relative to the output's scale: fp16 storage between the ops, fp32 otherwise.
    err = np.max(np.abs(got - want)) / np.max(np.abs(want))
    assert err < (2e-2 if fp16 else 1e-4), f"{name}: error {err:.2e}"
    stats = report["cuda_stats"]
    assert report["cuda_graph"], "the timed runs should replay a captured graph"
    assert stats["fallbacks"] == 0, report
    blocks = planned(report, "attention blocks")
    assert blocks == 2, report["fusions"]  # two layers, one attention block each
    if fp16:
        assert stats["flash_attention"] == blocks, report
    else:
        assert stats["flash_attention"] == 0, report
        assert stats["fused_softmax"] == planned(report, "softmax chains"), report
    assert stats["fused_layer_norm"] == planned(report, "Add\\+LayerNorm"), report
    # The transposes the plan leaves unfolded move data, and so does dynamo's K path, whose Reshape
    # merges B and H (apart in memory unless B is 1): one more per layer, in both precisions.
    m = re.search(r"transposes folded into GEMMs (\d+) of (\d+)", report["fusions"])
    assert m, report["fusions"]
    moved = int(m.group(2)) - int(m.group(1)) + (2 if name.endswith("_dynamo") else 0)
    assert stats["moved_transposes"] == moved, report

"""onnxd's engine against onnxruntime on the same models, inputs and thread count.

    .venv/bin/python bench/engine_vs_ort.py [--threads 1] [--rounds 5] [--iterations 100]

Both sides are timed in their own process with the same kind of loop (warm-up, then per-run wall
time): onnxd with `onnxd bench`, onnxruntime with InferenceSession.run from Python (which adds a few
microseconds of binding overhead per call; noted in the table). Rounds alternate between the two
so that machine noise hits both alike. Writes bench/results/engine_vs_ort.md.
"""
import argparse
import os
import pathlib
import platform
import re
import subprocess
import sys
import time

import numpy as np
import onnx
import onnxruntime as ort

ROOT = pathlib.Path(__file__).resolve().parents[1]
TUTORIAL = ROOT.parent / "shared" / "models" / "tutorial"
ONNXD = ROOT / "build" / "onnxd"

NP_TYPES = {1: np.float32, 7: np.int64, 6: np.int32, 11: np.float64}


def cases(models_dir):
    return [
        ("mnist-zoo (CNTK, opset 7)", TUTORIAL / "mnist-zoo-opset7" / "model.onnx", 1),
        ("pytorch-mnist (opset 9)", TUTORIAL / "pytorch-mnist" / "model.onnx", 1),
        ("sklearn RF iris, batch 64", TUTORIAL / "sklearn-rf-iris" / "model.onnx", 64),
        ("MLP 512x3, batch 1", models_dir / "mlp.onnx", 1),
        ("MLP 512x3, batch 64", models_dir / "mlp.onnx", 64),
        ("CNN 64x64 resnet-ish, batch 1", models_dir / "cnn.onnx", 1),
        ("CNN 64x64 resnet-ish, batch 16", models_dir / "cnn.onnx", 16),
        ("depthwise blocks 56x56, batch 1", models_dir / "depthwise.onnx", 1),
    ] + [(label, HEAVY / name / "model.onnx", 1) for label, name in HEAVY_CASES
         if (HEAVY / name / "model.onnx").exists()]


# torchvision exports from scripts/corpus_heavy.py (not in CI: present once that script has run).
HEAVY = ROOT / "tests" / "corpus" / "heavy_models"
HEAVY_CASES = [("torchvision ResNet-50, batch 1", "resnet50"), ("torchvision MobileNetV2, batch 1", "mobilenet_v2")]


def iterations_for(model, requested):
    """Heavy models get fewer runs per round (a ResNet-50 run takes about 100 ms on one core)."""
    return max(5, requested // 10) if HEAVY in pathlib.Path(model).parents else requested


def onnxd_median_ms(model, batch, threads, iterations):
    out = subprocess.run([str(ONNXD), "bench", str(model), "--threads", str(threads), "--batch", str(batch),
                          "--iterations", str(iterations), "--warmup", "10"],
                         capture_output=True, text=True, check=True).stdout
    return float(re.search(r"median ([0-9.]+)", out).group(1))


def ort_session(model, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(str(model), so, providers=["CPUExecutionProvider"])


def ort_median_ms(sess, batch, iterations):
    feeds = {}
    rng = np.random.default_rng(42)
    for i in sess.get_inputs():
        shape = [d if isinstance(d, int) else (batch if k == 0 else 1) for k, d in enumerate(i.shape)]
        dtype = {"tensor(float)": np.float32, "tensor(int64)": np.int64}.get(i.type, np.float32)
        feeds[i.name] = rng.random(shape).astype(dtype)
    for _ in range(10):
        sess.run(None, feeds)
    times = []
    for _ in range(iterations):
        t0 = time.perf_counter()
        sess.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1e3)
    return float(np.median(times))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iterations", type=int, default=100)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "engine_vs_ort.md"))
    args = ap.parse_args()
    models_dir = ROOT / "build" / "bench-models"
    subprocess.run([sys.executable, str(ROOT / "bench" / "make_models.py"), str(models_dir)], check=True)

    rows = []
    for label, model, batch in cases(models_dir):
        sess = ort_session(model, args.threads)
        ours, theirs = [], []
        for _ in range(args.rounds):  # interleaved rounds
            n = iterations_for(model, args.iterations)
            ours.append(onnxd_median_ms(model, batch, args.threads, n))
            theirs.append(ort_median_ms(sess, batch, n))
        o, t = float(np.median(ours)), float(np.median(theirs))
        rows.append((label, o, t, t / o))
        print(f"{label:40s} onnxd {o:9.4f} ms   onnxruntime {t:9.4f} ms   speedup x{t / o:5.2f}", flush=True)

    cpu = "unknown"
    try:
        cpu = next(l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name"))
    except (OSError, StopIteration):
        pass
    lines = [
        "# onnxd engine vs onnxruntime (CPU)",
        "",
        f"Machine: {cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}; "
        f"onnxruntime {ort.__version__}; threads per side: {args.threads}; "
        f"{args.rounds} interleaved rounds x {args.iterations} runs, median of round medians.",
        "",
        "Times are per run on a shared development VM: read the ratio, not the absolute numbers. onnxruntime is "
        "timed through its Python binding (a few microseconds of overhead per call, which matters only for the "
        "sub-0.1 ms models).",
        "",
        f"Command: `.venv/bin/python bench/engine_vs_ort.py --threads {args.threads} --rounds {args.rounds} "
        f"--iterations {args.iterations}`",
        "",
        "| model | onnxd ms | onnxruntime ms | onnxruntime / onnxd |",
        "|---|---:|---:|---:|",
    ]
    for label, o, t, r in rows:
        lines.append(f"| {label} | {o:.4f} | {t:.4f} | {r:.2f} |")
    pathlib.Path(args.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()

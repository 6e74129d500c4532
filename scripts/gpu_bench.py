#!/usr/bin/env python3
"""GPU bench (issue 8, point 4), run on the GPU machine by `scripts/gpu_check.sh device` when
torch is there: the same architectures with the same random weights, timed in PyTorch eager and
in onnxd's CUDA session in the same run, written as a Markdown table (gpu.md) to the output folder
(commit it as bench/results/gpu.md).

    python3 scripts/gpu_bench.py --bench BUNDLE/onnxd_gpu_model_bench --out OUT [--quick]

PyTorch times the model with its inputs already on the GPU (torch.cuda.synchronize around the
timed loop). onnxd times Session::Run host to host: inputs are copied in and outputs copied back
in every run, so it carries the transfers PyTorch does not; its fp16 rows run the fp32 model with
CompileOptions::fp16 (weights converted once, inputs and outputs converted at the copies). Every step that fails (an export, a model) is reported in the table, not
fatal.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback

# The reference on one H100 (PyTorch 2.11: eager / CUDA graph), for the table.
REFERENCE_MS = {
    ("resnet50", "fp32", 1): (5.52, 2.77), ("resnet50", "tf32", 1): (4.76, 1.16),
    ("resnet50", "fp16", 1): (3.94, 0.94), ("resnet50", "tf32", 64): (9.53, 9.25),
    ("resnet50", "fp16", 64): (5.31, 4.93), ("mobilenet_v2", "fp32", 1): (2.78, 1.07),
    ("bert_base", "fp16", 1): (3.95, 1.15), ("bert_base", "fp16", 32): (4.09, 5.41),
    # The other points from ../shared/GPU.md's table (same machine, same PyTorch).
    ("resnet50", "fp32", 64): (24.6, 23.9), ("mobilenet_v2", "fp32", 64): (6.80, 6.49),
    ("bert_base", "fp32", 1): (8.19, 3.28), ("bert_base", "fp32", 32): (19.8, 20.8),
}

# model, precision, batch: the points.
POINTS = [
    ("resnet50", "fp32", 1), ("resnet50", "tf32", 1), ("resnet50", "fp16", 1),
    ("resnet50", "fp32", 64), ("resnet50", "tf32", 64), ("resnet50", "fp16", 64),
    ("mobilenet_v2", "fp32", 1), ("mobilenet_v2", "fp32", 64),
    ("bert_base", "fp32", 1), ("bert_base", "fp16", 1), ("bert_base", "fp32", 32), ("bert_base", "fp16", 32),
]
SEQ = 128


def build(name):
    import torch
    torch.manual_seed(0)
    if name == "resnet50":
        import torchvision
        return torchvision.models.resnet50(weights=None).eval()
    if name == "mobilenet_v2":
        import torchvision
        return torchvision.models.mobilenet_v2(weights=None).eval()
    if name == "bert_base":
        import transformers
        cfg = transformers.BertConfig()  # bert-base: 12 layers, hidden 768, 12 heads
        return transformers.BertModel(cfg, add_pooling_layer=False).eval()
    raise ValueError(name)


def example_inputs(name, batch, device="cpu"):
    import torch
    g = torch.Generator().manual_seed(1)
    if name == "bert_base":
        ids = torch.randint(0, 30000, (batch, SEQ), generator=g)
        mask = torch.ones(batch, SEQ, dtype=torch.int64)
        return (ids.to(device), mask.to(device))
    return (torch.randn(batch, 3, 224, 224, generator=g).to(device),)


def export(name, model, path):
    import torch
    args = example_inputs(name, 2)
    if name == "bert_base":
        names, outs = ["input_ids", "attention_mask"], ["last_hidden_state"]
        dyn = {"input_ids": {0: "batch"}, "attention_mask": {0: "batch"}, "last_hidden_state": {0: "batch"}}
    else:
        names, outs = ["input"], ["output"]
        dyn = {"input": {0: "batch"}, "output": {0: "batch"}}
    errors = []
    # The TorchScript exporter, then dynamo; no keyword at all only for an exporter that takes no
    # `dynamo` argument (a failed BERT export costs tens of seconds: do not repeat one).
    attempts = [{"dynamo": False}, {"dynamo": True}]
    while attempts:
        kwargs = attempts.pop(0)
        try:
            torch.onnx.export(model, args, path, input_names=names, output_names=outs, dynamic_axes=dyn,
                              opset_version=17, **kwargs)
            return names
        except TypeError as e:  # an exporter without the `dynamo` argument
            errors.append(repr(e)[:300])
            if kwargs and "dynamo" in str(e) and {} not in attempts:
                attempts.append({})
        except Exception as e:  # noqa: BLE001 - report and try the next exporter
            errors.append(repr(e)[:300])
    raise RuntimeError("export failed: " + " | ".join(errors))


def reference_output(name, model, batch):
    """PyTorch's fp32 output (TF32 off) on the bench inputs, as a float32 numpy array."""
    import torch
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    m = model.cuda()
    with torch.inference_mode():
        out = m(*example_inputs(name, batch, "cuda"))
    if not torch.is_tensor(out):
        out = out[0]
    ref = out.float().cpu().numpy()
    model.cpu()
    return ref


def save_inputs(name, input_names, batch, folder):
    """The bench inputs as raw files NAME.bin (onnxd_gpu_model_bench --inputs-dir)."""
    os.makedirs(folder, exist_ok=True)
    for n, x in zip(input_names, example_inputs(name, batch)):
        x.contiguous().numpy().tofile(os.path.join(folder, n + ".bin"))


def time_torch(name, model, precision, batch, iters, warmup):
    import copy
    import torch
    torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    torch.backends.cudnn.allow_tf32 = precision == "tf32"
    # A copy: .half() in place would round the weights that later points (and the ONNX export,
    # and the reference output) use.
    m = copy.deepcopy(model).cuda()
    if precision == "fp16":
        m = m.half()
    inputs = example_inputs(name, batch, "cuda")
    if precision == "fp16" and name != "bert_base":
        inputs = tuple(x.half() for x in inputs)
    if name != "bert_base":
        m = m.to(memory_format=torch.channels_last)
        inputs = tuple(x.contiguous(memory_format=torch.channels_last) for x in inputs)
    times = []
    # Host to host as a server sees it (and as onnxd is timed): fp32 inputs from host memory, the
    # conversions on the GPU, the output back to host memory as fp32.
    host_inputs = example_inputs(name, batch)

    def host_to_host():
        xs = tuple(x.to("cuda") for x in host_inputs)
        if precision == "fp16" and name != "bert_base":
            xs = tuple(x.half() for x in xs)
        if name != "bert_base":
            xs = tuple(x.contiguous(memory_format=torch.channels_last) for x in xs)
        out = m(*xs)
        out = out if torch.is_tensor(out) else out[0]
        return out.float().cpu()

    h2h = []
    with torch.inference_mode():
        for _ in range(warmup):
            m(*inputs)
        torch.cuda.synchronize()
        for _ in range(iters):
            t0 = time.perf_counter()
            m(*inputs)
            torch.cuda.synchronize()
            times.append((time.perf_counter() - t0) * 1000)
        for _ in range(max(3, warmup // 2)):
            host_to_host()
        for _ in range(iters):
            t0 = time.perf_counter()
            host_to_host()
            h2h.append((time.perf_counter() - t0) * 1000)
    del m
    torch.cuda.empty_cache()
    return statistics.median(times), statistics.median(h2h)


def onnxd_command(bench, path, name, input_names, precision, batch, iters, warmup):
    """onnxd_gpu_model_bench's command line for one point (also scripts/gpu_diag.py's)."""
    cmd = [bench, path, "--device", "cuda", "--batch", str(batch), "--iterations", str(iters),
           "--warmup", str(warmup)]
    if precision == "tf32":
        cmd.append("--tf32")
    if precision == "fp16":
        cmd.append("--fp16")
    if name == "bert_base":
        for n in input_names:
            cmd += ["--shape", f"{n}={batch}x{SEQ}"]
    return cmd


def onnxd_env():
    """The environment for onnxd's binaries: the bundle's libraries first (gpu_check.sh), which
    must not shadow what Python's own modules load."""
    env = dict(os.environ)
    if "ONNXD_BENCH_LD_LIBRARY_PATH" in env:
        env["LD_LIBRARY_PATH"] = env["ONNXD_BENCH_LD_LIBRARY_PATH"]
    return env


def time_onnxd(bench, path, name, input_names, precision, batch, iters, warmup, inputs_dir=None, output_file=None):
    cmd = onnxd_command(bench, path, name, input_names, precision, batch, iters, warmup)
    if inputs_dir:
        cmd += ["--inputs-dir", inputs_dir]
    if output_file:
        cmd += ["--output-file", output_file]
    env = onnxd_env()
    try:
        # One stuck point must not take the others' time.
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    except subprocess.TimeoutExpired:
        return None, "onnxd_gpu_model_bench timed out after 120 s"
    line = (proc.stdout.strip().splitlines() or [""])[-1]
    try:
        r = json.loads(line)
    except json.JSONDecodeError:
        return None, f"bench exited {proc.returncode}: {proc.stderr.strip()[-300:]}"
    if "error" in r:
        return None, r["error"][:300]
    return r, ""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--quick", action="store_true", help="fewer iterations")
    ap.add_argument("--only", default="", help="comma-separated models (default: all)")
    a = ap.parse_args()
    only = {m for m in a.only.split(",") if m}
    iters, warmup = (20, 5) if a.quick else (50, 10)
    os.makedirs(a.out, exist_ok=True)
    rows, notes = [], []
    try:
        import torch
        gpu = torch.cuda.get_device_name(0)
        versions = f"torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}"
    except Exception as e:  # noqa: BLE001
        print(f"gpu_bench: no usable torch/CUDA: {e!r}")
        return 0
    models, exported = {}, {}
    work = tempfile.mkdtemp(prefix="onnxd-gpu-bench-")  # the exports stay out of OUT (hundreds of MB)
    tried = set()
    refs = {}  # (model, batch) -> PyTorch's fp32 output

    def prepare(name):
        # Each model is built and exported just before its first point, so that a slow export
        # (BERT under dynamo) leaves the earlier models' rows in gpu.md when time runs out.
        if name in tried:
            return
        tried.add(name)
        try:
            models[name] = build(name)
            path = os.path.join(work, f"{name}.onnx")
            exported[name] = (path, export(name, models[name], path))
        except Exception as e:  # noqa: BLE001
            notes.append(f"{name}: {e!r}"[:400])
            traceback.print_exc()

    def write_table():
        lines = [f"# GPU bench: onnxd CUDA session vs PyTorch eager ({gpu}; {versions})", "",
                 "Median of {} runs after {} warm-up runs, same random weights and inputs. PyTorch: inputs on "
                 "the GPU, channels_last for the CNNs. onnxd: `Session::Run` host to host (copies in and out "
                 "included). Written by `scripts/gpu_bench.py` from `scripts/gpu_check.sh device`.".format(
                     iters, warmup),
                 "", "Error: the largest |onnxd - PyTorch fp32| over output 0, divided by the largest |PyTorch fp32| "
                 "(TF32 off), on the same inputs. CUDA graph: whether onnxd's timed runs replayed a captured graph.",
                 "PyTorch eager: inputs already on the GPU (as the issue's reference figures); PyTorch host to "
                 "host: fp32 inputs from host memory, conversions on the GPU, output back to the host (what onnxd's "
                 "time includes).",
                 "", "| model | precision | batch | PyTorch eager ms | PyTorch host to host ms | onnxd ms | "
                 "onnxd / PyTorch eager | onnxd / PyTorch host to host | items/s (onnxd) | "
                 "issue reference eager / graph ms | error | CUDA graph | onnxd placement |",
                 "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
        for r in rows:
            t, o = r.get("torch_ms"), r.get("onnxd_ms")
            ref = REFERENCE_MS.get((r["model"], r["precision"], r["batch"]))
            err = r.get("error")
            hh = r.get("torch_h2h_ms")
            lines.append("| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |".format(
                r["model"], r["precision"], r["batch"],
                f"{t:.2f}" if t else r.get("torch_error", "-"),
                f"{hh:.2f}" if hh else "-",
                f"{o:.2f}" if o else r.get("onnxd_error", "-"),
                f"{o / t:.2f}" if (o and t) else "-",
                f"{o / hh:.2f}" if (o and hh) else "-",
                f"{r['batch'] * 1000 / o:.1f}" if o else "-",
                f"{ref[0]} / {ref[1]}" if ref else "-",
                f"{err:.1e}" if err is not None else r.get("error_note", "-"),
                {True: "yes", False: "no"}.get(r.get("cuda_graph"), "-"),
                r.get("placement", "-")))
        tuned = [r for r in rows if r.get("tuning")]
        if tuned:
            lines += ["", "onnxd's autotuning (warm-up: each execution variant captured and timed, the fastest kept):", ""]
            lines += [f"- {r['model']} {r['precision']} batch {r['batch']}: {r['tuning']}" for r in tuned]
        fused = [r for r in rows if r.get("fusions")]
        if fused:
            lines += ["", "onnxd's fusions (planner/cuda_fusions.h) and the transposes that still moved data:", ""]
            lines += [f"- {r['model']} {r['precision']} batch {r['batch']}: {r['fusions']}" for r in fused]
        if notes:
            lines += ["", "Problems:", ""] + [f"- {n}" for n in notes]
        # Rewritten after every point, so that a run cut short by its time limit still leaves a table.
        with open(os.path.join(a.out, "gpu.md"), "w") as f:
            f.write("\n".join(lines) + "\n")
        return lines

    for name, precision, batch in POINTS:
        if only and name not in only:
            continue
        prepare(name)
        if name not in models:
            continue
        row = {"model": name, "precision": precision, "batch": batch}
        try:
            row["torch_ms"], row["torch_h2h_ms"] = time_torch(name, models[name], precision, batch, iters, warmup)
        except Exception as e:  # noqa: BLE001
            row["torch_error"] = repr(e)[:200]
        if name in exported:
            inputs_dir = os.path.join(work, f"{name}_b{batch}")
            out_file = os.path.join(work, "out.bin")
            ref = None
            try:
                if not os.path.isdir(inputs_dir):
                    save_inputs(name, exported[name][1], batch, inputs_dir)
                if (name, batch) not in refs:
                    refs[(name, batch)] = reference_output(name, models[name], batch)
                ref = refs[(name, batch)]
            except Exception as e:  # noqa: BLE001
                row["error_note"] = repr(e)[:120]
                inputs_dir = None
            if os.path.exists(out_file):
                os.remove(out_file)
            r, err = time_onnxd(a.bench, exported[name][0], name, exported[name][1], precision, batch, iters, warmup,
                                inputs_dir, out_file if inputs_dir else None)
            if r:
                row["onnxd_ms"] = r["median_ms"]
                row["placement"] = r["placement"]
                row["cuda_graph"] = r.get("cuda_graph")
                if r.get("tuning"):
                    row["tuning"] = r["tuning"]
                if r.get("fusions"):
                    done = r.get("cuda_stats") or {}
                    ran = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in done.items()) or "-"
                    row["fusions"] = f"{r['fusions']}; in a run: {ran}"
                if ref is not None:
                    try:
                        import numpy as np
                        got = np.fromfile(out_file, dtype=np.float32)
                        if got.size != ref.size:
                            row["error_note"] = f"output has {got.size} values, PyTorch {ref.size}"
                        else:
                            scale = float(np.abs(ref).max()) or 1.0
                            row["error"] = float(np.abs(got - ref.reshape(-1)).max()) / scale
                    except Exception as e:  # noqa: BLE001
                        row["error_note"] = repr(e)[:120]
            else:
                row["onnxd_error"] = err
        rows.append(row)
        print(json.dumps(row), flush=True)
        write_table()

    print("\n".join(write_table()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

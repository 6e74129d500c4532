#!/usr/bin/env python3
"""GPU diagnosis (issue 8): onnxd's CUDA session on the bench models under layout and fusion
variants (ONNXD_CUDA_NHWC, ONNXD_CUDA_FUSE, --no-graphs), each with the GPU time per op type
(onnxd_gpu_model_bench --profile). Run on the GPU machine after `scripts/gpu_check.sh device` has
unpacked the bundle:

    python3 scripts/gpu_diag.py --bench BUNDLE/onnxd_gpu_model_bench --out OUT [--plan resnet50:fp16:64,...]

Writes OUT/diag.jsonl (one JSON object per variant) and prints a short table.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gpu_bench  # noqa: E402  (build / export / inputs shared with the bench)

VARIANTS = [  # (label, env, extra args)
    ("default", {}, []),
    ("nchw", {"ONNXD_CUDA_NHWC": "0"}, []),
    ("nhwc", {"ONNXD_CUDA_NHWC": "1"}, []),
    ("nofuse", {"ONNXD_CUDA_FUSE": "0"}, []),
    ("nchw-nofuse", {"ONNXD_CUDA_NHWC": "0", "ONNXD_CUDA_FUSE": "0"}, []),
    ("nographs", {}, ["--no-graphs"]),
    # Stop 15's features, each against the default (--variants default,noflash,nofold,...):
    ("noflash", {"ONNXD_CUDA_FLASH": "0"}, []),                # attention blocks unfused
    ("nofold", {"ONNXD_CUDA_FOLD_TRANSPOSE": "0"}, []),        # every Transpose moves its data
    ("owndw", {"ONNXD_CUDA_DEPTHWISE": "1"}, []),              # depthwise layers by our kernel
    ("cudnndw", {"ONNXD_CUDA_DEPTHWISE": "0"}, []),            # depthwise layers by cuDNN
]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bench", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--plan", default="resnet50:fp16:64,resnet50:fp16:1,resnet50:tf32:64,resnet50:fp32:1,"
                                      "mobilenet_v2:fp32:64,bert_base:fp16:32")
    ap.add_argument("--variants", default="default,nchw,nhwc,nofuse,nographs")
    a = ap.parse_args()
    wanted = set(a.variants.split(","))
    work = tempfile.mkdtemp(prefix="onnxd-gpu-diag-")
    exported = {}
    out = open(os.path.join(a.out, "diag.jsonl"), "w")
    for point in a.plan.split(","):
        name, precision, batch = point.split(":")
        batch = int(batch)
        if name not in exported:
            try:
                model = gpu_bench.build(name)
                path = os.path.join(work, f"{name}.onnx")
                exported[name] = (path, gpu_bench.export(name, model, path))
            except Exception as e:  # noqa: BLE001
                print(f"{name}: export failed: {e!r}"[:300], flush=True)
                exported[name] = None
        if exported[name] is None:
            continue
        path, input_names = exported[name]
        for label, env, extra in VARIANTS:
            if label not in wanted:
                continue
            cmd = gpu_bench.onnxd_command(a.bench, path, name, input_names, precision, batch, 20, 5)
            cmd += ["--profile"] + extra
            e = gpu_bench.onnxd_env()
            e.update(env)
            e["ONNXD_CUDA_GRAPH_DEBUG"] = "1"
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=90, env=e)
                line = (p.stdout.strip().splitlines() or ["{}"])[-1]
                r = json.loads(line)
                if p.stderr.strip():
                    r["stderr"] = p.stderr.strip()[-300:]
            except Exception as ex:  # noqa: BLE001
                r = {"error": repr(ex)[:300]}
            r.update({"point": point, "variant": label})
            r.pop("placement", None)
            out.write(json.dumps(r) + "\n")
            out.flush()
            prof = r.get("profile_ms_per_run", {})
            top = ", ".join(f"{k} {v:.2f}" for k, v in list(prof.items())[:6])
            print(f"{point:22s} {label:12s} median {r.get('median_ms', float('nan')):8.3f} ms  graph "
                  f"{r.get('cuda_graph')}  {r.get('error', '')[:120]}  [{top}] {r.get('stderr', '')[:150]}",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

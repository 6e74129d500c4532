#!/usr/bin/env python3
"""GPU serving check (issue 8), run on the GPU machine by `scripts/gpu_check.sh device`: the daemon
itself serves KIND_GPU models (fp32, fp16, TF32) beside a CPU model, over KServe v2 HTTP, under
concurrent load with dynamic batching; every answer is compared with onnxruntime on the CPU, and
the Prometheus page is read for the GPU metrics (NVML). Writes OUT/serve.md.

    python3 scripts/gpu_serve_check.py --onnxd BUNDLE/onnxd --out OUT
"""
import argparse
import concurrent.futures
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HTTP, GRPC, METRICS = 18000, 18001, 18002

GPU_MODELS = {  # name -> extra config lines
    "mnist_gpu": "",
    "mnist_gpu_fp16": 'parameters { key: "precision" value: { string_value: "fp16" } }\n',
    "mnist_gpu_tf32": 'parameters { key: "allow_tf32" value: { string_value: "true" } }\n',
}


def make_repo(root, kind):
    src = os.path.join(ROOT, "models", "mnist_cnn", "1", "model.onnx")
    for name, extra in GPU_MODELS.items():
        os.makedirs(os.path.join(root, name, "1"))
        shutil.copy(src, os.path.join(root, name, "1", "model.onnx"))
        with open(os.path.join(root, name, "config.pbtxt"), "w") as f:
            f.write(f'name: "{name}"\nmax_batch_size: 32\ninstance_group [{{ kind: {kind}, count: 2 }}]\n'
                    'dynamic_batching { max_queue_delay_microseconds: 200 }\n' + extra)
    shutil.copytree(os.path.join(ROOT, "models", "iris"), os.path.join(root, "iris"))
    # No instance group at all: as in Triton, one instance on each GPU (iris, whose nodes have no
    # CUDA kernel, stays on the CPU by the same rule).
    os.makedirs(os.path.join(root, "mnist_default", "1"))
    shutil.copy(src, os.path.join(root, "mnist_default", "1", "model.onnx"))
    shutil.copytree(os.path.join(ROOT, "models", "iris"), os.path.join(root, "iris_default"))
    with open(os.path.join(root, "iris_default", "config.pbtxt"), "w") as f:
        f.write('name: "iris_default"\nmax_batch_size: 64\n')


def http(path, body=None, timeout=30):
    req = urllib.request.Request(f"http://127.0.0.1:{HTTP}{path}", data=body,
                                 method="POST" if body is not None else "GET",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, r.read()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--onnxd", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--cpu", action="store_true", help="KIND_CPU instead (to try the script without a GPU)")
    a = ap.parse_args()
    lines = ["# GPU serving check (the daemon, KIND_GPU models over KServe v2 HTTP)", ""]
    repo = tempfile.mkdtemp(prefix="onnxd-gpu-repo-")
    make_repo(repo, "KIND_CPU" if a.cpu else "KIND_GPU")
    import onnx
    model_path = os.path.join(ROOT, "models", "mnist_cnn", "1", "model.onnx")
    in_name = onnx.load(model_path).graph.input[0].name
    import onnxruntime as ort
    ref = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    log = open(os.path.join(a.out, "serve_daemon.log"), "w")
    env = dict(os.environ)
    if "ONNXD_BENCH_LD_LIBRARY_PATH" in env:
        env["LD_LIBRARY_PATH"] = env["ONNXD_BENCH_LD_LIBRARY_PATH"]
    d = subprocess.Popen([a.onnxd, "--model-repository", repo, "--http-port", str(HTTP), "--grpc-port", str(GRPC),
                          "--metrics-port", str(METRICS)], stdout=log, stderr=subprocess.STDOUT, env=env)
    ok = True
    try:
        t0 = time.time()
        while True:
            try:
                if http("/v2/health/ready", timeout=2)[0] == 200:
                    break
            except Exception:  # noqa: BLE001
                pass
            if time.time() - t0 > 60 or d.poll() is not None:
                lines.append("- the daemon did not become ready in 60 s")
                ok = False
                raise RuntimeError("not ready")
            time.sleep(0.2)
        lines.append(f"- ready in {time.time() - t0:.1f} s with {', '.join(GPU_MODELS)} "
                     f"({'KIND_CPU' if a.cpu else 'KIND_GPU'}, 2 instances each, dynamic batching) and iris (CPU)")
        _, idx = http("/v2/repository/index", b"{}")
        states = {m["name"]: m.get("state") for m in json.loads(idx)}
        lines.append(f"- repository index: {states}")
        # The default placement (no instance_group in the config): GPU for the CNN, CPU for iris.
        for name, want_kind in (("mnist_default", "KIND_CPU" if a.cpu else "KIND_GPU"), ("iris_default", "KIND_CPU")):
            try:
                _, cfg = http(f"/v2/models/{name}/config")
                kinds = [g.get("kind") for g in json.loads(cfg).get("instance_group", [])]
                good = bool(kinds) and all(k == want_kind for k in kinds)
                ok &= good
                lines.append(f"- {name} without instance_group: {kinds} ({'as expected' if good else 'expected ' + want_kind})")
            except Exception as e:  # noqa: BLE001
                ok = False
                lines.append(f"- {name} config: {e!r}"[:200])
        rng = np.random.default_rng(0)
        lines += ["", "| model | requests | max abs error vs onnxruntime (CPU) | concurrency 16: req/s | p50 ms | p99 ms |",
                  "|---|---|---|---|---|---|"]
        for name in GPU_MODELS:
            worst = 0.0
            for k in range(12):
                x = rng.standard_normal((1 + k % 5, 1, 28, 28)).astype(np.float32)
                body = json.dumps({"inputs": [{"name": in_name, "shape": list(x.shape), "datatype": "FP32",
                                               "data": x.reshape(-1).tolist()}]}).encode()
                _, out = http(f"/v2/models/{name}/infer", body)
                o = json.loads(out)["outputs"][0]
                got = np.array(o["data"], dtype=np.float32).reshape(o["shape"])
                want = ref.run(None, {in_name: x})[0]
                worst = max(worst, float(np.abs(got - want).max()))
            tol = 5e-2 if "fp16" in name else (5e-3 if "tf32" in name else 1e-4)
            ok &= worst <= tol
            x1 = rng.standard_normal((1, 1, 28, 28)).astype(np.float32)
            body1 = json.dumps({"inputs": [{"name": in_name, "shape": [1, 1, 28, 28], "datatype": "FP32",
                                            "data": x1.reshape(-1).tolist()}]}).encode()

            def one(_):
                s = time.perf_counter()
                http(f"/v2/models/{name}/infer", body1)
                return (time.perf_counter() - s) * 1000

            n = 800
            s = time.perf_counter()
            with concurrent.futures.ThreadPoolExecutor(16) as ex:
                lat = sorted(ex.map(one, range(n)))
            rate = n / (time.perf_counter() - s)
            lines.append(f"| {name} | 12 (batch 1-5) + {n} | {worst:.2e} (tolerance {tol:g}) | {rate:.0f} | "
                         f"{statistics.median(lat):.2f} | {lat[int(n * 0.99) - 1]:.2f} |")
        with urllib.request.urlopen(f"http://127.0.0.1:{METRICS}/metrics", timeout=10) as r:
            metrics = r.read().decode()
        gpu_lines = [l for l in metrics.splitlines() if l.startswith("nv_gpu_")]
        succ = [l for l in metrics.splitlines() if l.startswith("nv_inference_request_success") and "mnist_gpu" in l]
        lines += ["", f"- /metrics: {len(gpu_lines)} nv_gpu_* samples, e.g. " +
                  "; ".join(gpu_lines[:4]), "- " + "; ".join(succ[:3])]
    except Exception as e:  # noqa: BLE001
        lines.append(f"- failed: {e!r}"[:300])
        ok = False
    finally:
        d.terminate()
        try:
            rc = d.wait(timeout=30)
            lines.append(f"- SIGTERM: exit status {rc}")
        except subprocess.TimeoutExpired:
            d.kill()
            lines.append("- SIGTERM: did not exit in 30 s")
            ok = False
        log.close()
    with open(os.path.join(a.out, "serve.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

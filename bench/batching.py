#!/usr/bin/env python3
"""Dynamic batching on and off, side by side: onnxd under closed-loop load at concurrency 1..32.

Starts one onnxd on a temporary repository holding each model twice, `<m>_nobatch` (max_batch_size
32, no dynamic_batching: one request per run) and `<m>_batch` (the same file with dynamic_batching),
then drives both with build/onnxd_loadgen (perf_analyzer's concurrency mode; PyPI has no working
perf_analyzer here) over gRPC and HTTP. Runs are interleaved (for each concurrency: off, on, per
protocol and model) so that drift on a shared machine hits both alike. Writes
bench/results/batching.md (table, machine) and bench/results/batching.png (throughput and p99 latency
against concurrency).

    .venv/bin/python bench/batching.py [--duration 3] [--concurrency 1,2,4,8,16,32]

Elsewhere (the GPU machine's 16 cores, from scripts/gpu_check.sh with ONNXD_GPU_BATCHING=1): ONNXD_BIN
and --loadgen name the binaries, ONNXD_BENCH_LD_LIBRARY_PATH their library path (python keeps its own).
Every model gets 2 KIND_CPU instances, so a machine with a GPU measures the same thing.
"""
import argparse
import json
import os
import pathlib
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "bench"))

from daemon_util import Daemon  # noqa: E402
import make_models  # noqa: E402

# The default CPU instance count, spelled out: on a machine with a GPU, MNIST would default to it.
INSTANCES = "instance_group [{ count: 2, kind: KIND_CPU }]\n"
BATCH_CONFIG = """
max_batch_size: 32
dynamic_batching {{
  max_queue_delay_microseconds: {delay}
}}
"""


def machine():
    cpu = "unknown CPU"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(next(l for l in open("/proc/meminfo") if l.startswith("MemTotal")).split()[1])
        mem = f", {kb / 1048576:.0f} GiB"
    except (OSError, StopIteration):
        pass
    return f"{cpu}, {os.cpu_count()} cores{mem}, {platform.system()} {platform.release()}"


def make_repo(root, delay_us):
    models = {}
    mnist = ROOT / "models" / "mnist_cnn" / "1" / "model.onnx"
    cnn = root / "cnn.onnx"
    make_models.cnn(str(cnn))
    io = root / "mnist_io.onnx"
    make_models.mnist_io(str(io))
    for name, path in (("mnist", mnist), ("cnn", cnn), ("mnist_io", io)):
        for variant in ("nobatch", "batch"):
            d = root / "repo" / f"{name}_{variant}"
            (d / "1").mkdir(parents=True)
            shutil.copy(path, d / "1" / "model.onnx")
            cfg = (BATCH_CONFIG.format(delay=delay_us) if variant == "batch" else "max_batch_size: 32\n") + INSTANCES
            (d / "config.pbtxt").write_text(cfg)
        models[name] = path
    return root / "repo", list(models)


def process_cpu_s(pid):
    """User + system CPU seconds the process has used so far."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def loadgen(binary, protocol, daemon, model, concurrency, duration):
    """One loadgen run, plus the CPU time per request of the daemon and of the load generator (both
    over the whole run, warm-up included, divided by every request sent, warm-up included)."""
    url = f"localhost:{daemon.grpc_port if protocol == 'grpc' else daemon.http_port}"
    env = dict(os.environ, ONNXD_GRPC_URL=f"localhost:{daemon.grpc_port}")
    d0 = process_cpu_s(daemon.proc.pid)
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([binary, "--protocol", protocol, "--url", url, "--model", model,
                          "--concurrency", str(concurrency), "--warmup-s", "0.5", "--duration-s", str(duration)],
                         env=env, capture_output=True, text=True, check=True)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    d1 = process_cpu_s(daemon.proc.pid)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    sent = max(1.0, r["throughput_rps"] * (duration + 0.5))
    r["daemon_cpu_us"] = (d1 - d0) * 1e6 / sent
    r["client_cpu_us"] = (c1.ru_utime + c1.ru_stime - c0.ru_utime - c0.ru_stime) * 1e6 / sent
    return r


def plot(rows, path, concurrency):
    try:
        import matplotlib
    except ImportError:
        return False
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    models = sorted({r["model_base"] for r in rows})
    fig, axes = plt.subplots(2, len(models), figsize=(6 * len(models), 8), squeeze=False)
    for col, m in enumerate(models):
        for protocol, style in (("grpc", "-"), ("http", "--")):
            for variant, color in (("nobatch", "tab:gray"), ("batch", "tab:blue")):
                sel = [r for r in rows if r["model_base"] == m and r["protocol"] == protocol and r["variant"] == variant]
                sel.sort(key=lambda r: r["concurrency"])
                xs = [r["concurrency"] for r in sel]
                label = f"{protocol}, batching {'on' if variant == 'batch' else 'off'}"
                axes[0][col].plot(xs, [r["throughput_rps"] for r in sel], style, color=color, marker="o", label=label)
                axes[1][col].plot(xs, [r["p99_us"] / 1000 for r in sel], style, color=color, marker="o", label=label)
        axes[0][col].set_title(f"{m}: throughput")
        axes[0][col].set_ylabel("inferences / s")
        axes[1][col].set_title(f"{m}: p99 latency")
        axes[1][col].set_ylabel("ms")
        for ax in (axes[0][col], axes[1][col]):
            ax.set_xscale("log", base=2)
            ax.set_xticks(concurrency)
            ax.set_xticklabels([str(c) for c in concurrency])
            ax.set_xlabel("concurrent requests")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=float, default=3.0, help="seconds measured per point")
    ap.add_argument("--concurrency", default="1,2,4,8,16,32")
    ap.add_argument("--delay-us", type=int, default=500, help="max_queue_delay_microseconds of the batched models")
    ap.add_argument("--out", default=str(ROOT / "bench" / "results"))
    ap.add_argument("--loadgen", default=str(ROOT / "build" / "onnxd_loadgen"))
    args = ap.parse_args()
    concurrency = [int(c) for c in args.concurrency.split(",")]
    if not pathlib.Path(args.loadgen).exists():
        sys.exit(f"{args.loadgen} is missing: run scripts/build.sh")
    if os.environ.get("ONNXD_BENCH_LD_LIBRARY_PATH"):  # for the daemon and the load generator only
        os.environ["LD_LIBRARY_PATH"] = os.environ["ONNXD_BENCH_LD_LIBRARY_PATH"]
    shared = (os.cpu_count() or 1) <= 4
    rows = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        repo, models = make_repo(pathlib.Path(tmp), args.delay_us)
        d = Daemon(str(repo))
        try:
            for c in concurrency:
                for m in models:
                    for protocol in ("grpc", "http"):
                        for variant in ("nobatch", "batch"):
                            r = loadgen(args.loadgen, protocol, d, f"{m}_{variant}", c, args.duration)
                            r.update(model_base=m, variant=variant)
                            rows.append(r)
                            print(f"{m:6s} {protocol:4s} c={c:2d} batching {'on ' if variant == 'batch' else 'off'}: "
                                  f"{r['throughput_rps']:8.0f}/s p50 {r['p50_us'] / 1000:6.2f} ms "
                                  f"p99 {r['p99_us'] / 1000:6.2f} ms errors {r['errors']}", flush=True)
            with urllib.request.urlopen(f"http://localhost:{d.http_port}/v2/models/mnist_batch/stats") as resp:
                stats = json.loads(resp.read())
        finally:
            d.stop()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "batching.json").write_text(json.dumps(rows, indent=1))
    plotted = plot(rows, out / "batching.png", concurrency)

    def get(m, protocol, variant, c):
        return next(r for r in rows if r["model_base"] == m and r["protocol"] == protocol and r["variant"] == variant
                    and r["concurrency"] == c)

    lines = ["# Dynamic batching: throughput and latency against concurrency", "",
             f"Machine: {machine()}. " + ("onnxd and the load generator share the machine's cores." if shared else
                                          f"onnxd and the load generator run on the same {os.cpu_count()} cores, not squeezed onto two."),
             f"Load average (1 min) before the run: {load_before[0]:.1f} (the run itself then loads the cores; "
             "a high figure here means other work shared them: read the ratios with care).", "",
             "Command: `.venv/bin/python bench/batching.py` (build/onnxd_loadgen, perf_analyzer's concurrency mode:",
             "each of N clients sends its next request when the last one returns). `batch` models use",
             f"`dynamic_batching {{ max_queue_delay_microseconds: {args.delay_us} }}`, `nobatch` run one request per run;",
             "both max_batch_size 32, 2 CPU instances (the default), one row per request, "
             f"{args.duration:g} s measured per point after 0.5 s warm-up, runs interleaved.", "",
             "CPU µs/req: CPU time of the daemon and of the load generator per request (warm-up included), off / on.",
             "`mnist_io` has MNIST's inputs and outputs and next to no compute (Flatten, Slice): what a request costs",
             "in protocol, scheduling and client work alone.", "",
             "| model | protocol | concurrency | off: req/s | on: req/s | on/off | off: p50 ms | on: p50 ms | off: p99 ms | on: p99 ms "
             "| daemon CPU µs/req | client CPU µs/req |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for m in models:
        for protocol in ("grpc", "http"):
            for c in concurrency:
                a, b = get(m, protocol, "nobatch", c), get(m, protocol, "batch", c)
                ratio = b["throughput_rps"] / a["throughput_rps"] if a["throughput_rps"] else float("nan")
                lines.append(f"| {m} | {protocol} | {c} | {a['throughput_rps']:.0f} | {b['throughput_rps']:.0f} | "
                             f"{ratio:.2f} | {a['p50_us'] / 1000:.2f} | {b['p50_us'] / 1000:.2f} | "
                             f"{a['p99_us'] / 1000:.2f} | {b['p99_us'] / 1000:.2f} | "
                             f"{a['daemon_cpu_us']:.0f} / {b['daemon_cpu_us']:.0f} | {a['client_cpu_us']:.0f} / {b['client_cpu_us']:.0f} |")
    errors = sum(r["errors"] for r in rows)
    lines += ["", f"Errors across all runs: {errors}.", ""]
    for protocol in ("grpc", "http"):
        if 16 in concurrency and 1 in concurrency:
            a16, b16 = get("mnist", protocol, "nobatch", 16), get("mnist", protocol, "batch", 16)
            a1, b1 = get("mnist", protocol, "nobatch", 1), get("mnist", protocol, "batch", 1)
            lines.append(f"- MNIST over {protocol}: at concurrency 16 batching gives "
                         f"{b16['throughput_rps'] / a16['throughput_rps']:.2f}x the throughput (target 1.5x); "
                         f"p50 at concurrency 1 is {b1['p50_us'] / a1['p50_us']:.2f}x of no batching (target within 1.10x).")
            io16 = max(get("mnist_io", protocol, v, 16)["throughput_rps"] for v in ("nobatch", "batch"))
            lines.append(f"  Ceiling: with MNIST's compute free, requests of the same size go at {io16:.0f}/s (mnist_io), "
                         f"{io16 / a16['throughput_rps']:.2f}x MNIST without batching; no batching policy can pass that "
                         "on this machine" + (", where the client shares the cores." if shared else "."))
    sizes = {}
    for b in stats.get("model_stats", [{}])[0].get("batch_stats", []):
        sizes[int(b["batch_size"])] = int(b["compute_infer"]["count"])
    if sizes:
        total = sum(sizes.values())
        mean = sum(k * v for k, v in sizes.items()) / total
        lines.append(f"- mnist_batch ran {total} batches, mean size {mean:.1f} rows, largest {max(sizes)} "
                     "(statistics API, all concurrencies together).")
    lines += ["", "![throughput and p99 latency](batching.png)" if plotted else "(No plot: matplotlib is missing.)", ""]
    (out / "batching.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

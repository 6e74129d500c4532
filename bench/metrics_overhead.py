#!/usr/bin/env python3
"""What the latency histograms cost: the same traffic against two daemons, one with the default
metrics (onnxd_inference_* histograms on) and one with --metrics-config histogram_latencies=false,
runs interleaved (off, on, off, on, ...) so that drift on a shared machine hits both alike.
Closed-loop load from onnxd_loadgen (perf_analyzer's concurrency mode) over gRPC; /metrics is
scraped once a second during the runs, as Prometheus would (more often than its usual 15 s).

Models: `simple` (add/sub of two 16-int vectors: the request path is almost all overhead, so the
histograms' share is largest there) and `mnist_batch` (the bundled MNIST CNN with dynamic batching).

    .venv/bin/python bench/metrics_overhead.py [--build build] [--rounds 6] [--duration 3]

Writes bench/results/metrics_overhead.md.
"""
import argparse
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "bench"))


def make_repo(root):
    shutil.copytree(ROOT / "models" / "simple", root / "simple")
    d = root / "mnist_batch"
    (d / "1").mkdir(parents=True)
    shutil.copy(ROOT / "models" / "mnist_cnn" / "1" / "model.onnx", d / "1" / "model.onnx")
    (d / "config.pbtxt").write_text("max_batch_size: 32\ndynamic_batching { max_queue_delay_microseconds: 500 }\n")


def loadgen(build, daemon, model, concurrency, duration):
    out = subprocess.run([str(build / "onnxd_loadgen"), "--protocol", "grpc", "--url", f"localhost:{daemon.grpc_port}",
                          "--model", model, "--concurrency", str(concurrency), "--warmup-s", "0.5",
                          "--duration-s", str(duration)], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def scraper(daemons, stop):
    while not stop.wait(1.0):
        for d in daemons:
            try:
                with urllib.request.urlopen(f"http://localhost:{d.metrics_port}/metrics", timeout=10) as r:
                    r.read()
            except OSError as e:
                print(f"scrape failed: {e}; onnxd exit {d.proc.poll()}", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default=str(ROOT / "build"), help="build dir holding onnxd and onnxd_loadgen")
    ap.add_argument("--rounds", type=int, default=6)
    ap.add_argument("--duration", type=float, default=3.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--out", default=str(ROOT / "bench" / "results" / "metrics_overhead.md"))
    args = ap.parse_args()
    build = pathlib.Path(args.build).resolve()
    os.environ["ONNXD_BIN"] = str(build / "onnxd")
    from daemon_util import Daemon  # noqa: E402  (reads ONNXD_BIN)
    from batching import machine  # noqa: E402

    # The histograms' own cost per request, without the noise of a whole server on a shared machine.
    micro = []
    with tempfile.TemporaryDirectory() as tmp:
        exe = pathlib.Path(tmp) / "histogram_observe_bench"
        subprocess.run(["c++", "-O2", "-std=c++20", f"-I{ROOT / 'server'}", f"-I{ROOT / 'engine' / 'include'}",
                        str(ROOT / "bench" / "histogram_observe_bench.cc"), str(ROOT / "server" / "metrics" / "registry.cc"),
                        "-pthread", "-o", str(exe)], check=True)
        for threads in (1, 2):
            runs = [json.loads(subprocess.run([str(exe), str(threads), "3000000"], capture_output=True, text=True,
                                              check=True).stdout)["ns_per_request"] for _ in range(5)]
            micro.append((threads, statistics.median(runs)))
            print(f"histogram observations, {threads} thread(s): {micro[-1][1]:.0f} ns per request", flush=True)

    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        repo = pathlib.Path(tmp) / "repo"
        make_repo(repo)
        off = Daemon(str(repo), ["--metrics-config", "histogram_latencies=false"])
        on = Daemon(str(repo))
        # A second daemon with histograms off: the off2/off ratio is this machine's noise floor.
        off2 = Daemon(str(repo), ["--metrics-config", "histogram_latencies=false"])
        daemons = [("off", off), ("on", on), ("off2", off2)]
        stop = threading.Event()
        t = threading.Thread(target=scraper, args=([d for _, d in daemons], stop), daemon=True)
        t.start()
        try:
            for model in ("simple", "mnist_batch"):
                for r in range(args.rounds):
                    for name, d in daemons[r % 3:] + daemons[:r % 3]:  # each takes each slot in turn
                        res = loadgen(build, d, model, args.concurrency, args.duration)
                        if res["errors"] or not d.alive():
                            sys.exit(f"{name}: {res}\nonnxd exit {d.proc.poll()}:\n" + "".join(d.stderr_lines[-30:]))
                        results.setdefault((model, name), []).append(res)
                        print(f"{model:11s} round {r} histograms {name:3s}: {res['throughput_rps']:8.0f}/s "
                              f"p50 {res['p50_us']:7.0f} us p99 {res['p99_us']:7.0f} us", flush=True)
            with urllib.request.urlopen(f"http://localhost:{on.metrics_port}/metrics", timeout=10) as resp:
                text = resp.read().decode()
            assert "onnxd_inference_request_duration_seconds_bucket" in text
        finally:
            stop.set()
            for _, d in daemons:
                d.stop()

    lines = ["# Cost of the latency histograms", "",
             f"Machine: {machine()}; daemons and load generator share the cores.", "",
             f"Command: `.venv/bin/python bench/metrics_overhead.py --build {os.path.relpath(build, ROOT)} "
             f"--rounds {args.rounds} --duration {args.duration:g}`. Three daemons on one repository: `on` with the "
             "default metrics (histograms on), `off` and `off2` with `--metrics-config histogram_latencies=false` "
             "(off2/off shows the noise floor of this machine); gRPC, "
             f"concurrency {args.concurrency}, {args.duration:g} s per run after 0.5 s warm-up, runs interleaved "
             "(each daemon takes each slot in turn); /metrics of every daemon scraped every second throughout.", "",
             "| model | off: req/s (median) | on: req/s (median) | off2: req/s (median) | on/off | off2/off | "
             "off: p99 us | on: p99 us | runs each |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for model in ("simple", "mnist_batch"):
        a = [x["throughput_rps"] for x in results[(model, "off")]]
        b = [x["throughput_rps"] for x in results[(model, "on")]]
        pa = statistics.median(x["p99_us"] for x in results[(model, "off")])
        pb = statistics.median(x["p99_us"] for x in results[(model, "on")])
        ma, mb = statistics.median(a), statistics.median(b)
        mc = statistics.median(x["throughput_rps"] for x in results[(model, "off2")])
        lines.append(f"| {model} | {ma:.0f} | {mb:.0f} | {mc:.0f} | {mb / ma:.3f} | {mc / ma:.3f} | {pa:.0f} | {pb:.0f} | "
                     f"{len(a)} |")
    simple_off = statistics.median(x["throughput_rps"] for x in results[("simple", "off")])
    cpu_us = (os.cpu_count() or 1) * 1e6 / simple_off  # CPU time per request at that rate, all cores busy
    lines += ["", "What the histograms themselves cost per successful request (three latency observations and one "
              "batch-size observation; `bench/histogram_observe_bench.cc`, median of 5 runs):", ""]
    for threads, ns in micro:
        lines.append(f"- {threads} thread(s) updating one model's histograms: {ns:.0f} ns per request "
                     f"({100 * ns / 1000 / cpu_us:.3f}% of the {cpu_us:.0f} us of CPU a `simple` request takes here)")
    lines += ["", "The whole-server runs vary by tens of percent from run to run on this shared machine, far more "
              "than the histograms can cost; the bound that holds is the one above.", "", "Per run (req/s):", ""]
    for (model, name), rs in sorted(results.items()):
        lines.append(f"- {model}, histograms {name}: " + ", ".join(f"{x['throughput_rps']:.0f}" for x in rs))
    lines.append("")
    pathlib.Path(args.out).write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()

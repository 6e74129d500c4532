#!/usr/bin/env bash
# GPU check for the CUDA building blocks (issue #8), in two halves:
#
#   bash scripts/gpu_check.sh build    (here, no GPU needed; the default)
#       Configures build-gpu/ (Release, ONNXD_CUDA=ON, sm_90), builds the daemon and the GPU test and
#       bench binaries, and bundles them stripped into build-gpu/bundle/ with the non-system,
#       non-CUDA shared libraries they need (../shared/GPU.md; CUDA libraries are never bundled: the
#       device's own match its driver) and the ONNX node-suite cases that place nodes on the GPU
#       (the device's onnx wheel has no test data). Carry build-gpu/bundle.tar.gz.
#
#   bash scripts/gpu_check.sh device   (on the GPU machine, from the repository root)
#       Runs, within ONNXD_GPU_BUDGET_S (540) seconds, writing into $OUT (or ./gpu-out):
#       nvidia-smi.txt; gpu_tests.{xml,log} (kernels against CPU references);
#       gpu_session_tests.{xml,log} (models through CUDA sessions against CPU sessions);
#       gpu_node_suite.txt (the bundled node cases through CUDA sessions; ONNXD_GPU_NODE_SUITE=0
#       skips); serve.md (scripts/gpu_serve_check.py: the daemon serving KIND_GPU models;
#       ONNXD_GPU_SERVE=0 skips); batching/ (ONNXD_GPU_BATCHING=1: bench/batching.py on the CPU cores);
#       gpu_bench.md (kernel table; ONNXD_GPU_KERNEL_BENCH=0 skips); gpu.md (scripts/gpu_bench.py: models in
#       onnxd and PyTorch on the same GPU; ONNXD_GPU_MODEL_BENCH_QUICK=1 for fewer iterations,
#       ONNXD_GPU_MODEL_BENCH_ONLY=a,b for some models); with ONNXD_GPU_DIAG=1, diag.jsonl
#       (scripts/gpu_diag.py: layout/fusion/graph variants with per-op GPU times). ONNXD_GPU_PACK=1
#       leaves gpu.md, serve.md, gpu_bench.md and console.log, and packs the rest into all.tgz.
#       Exit status: the first failing test binary's (77 = no device).
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-build}"
# ONNXD_GPU_BUILD picks another build folder (both halves must agree); build-gpu by default.
B="${ONNXD_GPU_BUILD:-build-gpu}"
BUNDLE="$B/bundle"

case "$mode" in
  build)
    export CCACHE_DIR="${CCACHE_DIR:-$HOME/.ccache}"
    cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release -DONNXD_CUDA=ON \
          -DCMAKE_CUDA_ARCHITECTURES="${ONNXD_CUDA_ARCHS:-90}" >/dev/null
    ninja -C "$B" -j"${ONNXD_BUILD_JOBS:-2}" onnxd onnxd_loadgen onnxd_gpu_tests onnxd_gpu_session_tests onnxd_gpu_node_suite onnxd_gpu_model_bench onnxd_gpu_bench
    rm -rf "$BUNDLE"
    mkdir -p "$BUNDLE/lib"
    for bin in onnxd onnxd_loadgen onnxd_gpu_tests onnxd_gpu_session_tests onnxd_gpu_node_suite onnxd_gpu_model_bench onnxd_gpu_bench; do
      if [ -e "$B/$bin" ]; then cp "$B/$bin" "$BUNDLE/"; else cp "$B/tests/gpu/$bin" "$BUNDLE/"; fi
      # Same selection as GPU.md: the session tests link the engine (protobuf, ONNX, OpenBLAS).
      for l in $(ldd "$BUNDLE/$bin" | awk '/=> \/(usr\/)?lib\/x86_64/ {print $3}' \
                 | grep -E 'gtest|proto|onnx|openblas|gfortran|quadmath|grpc|absl|boost|cares|re2|ssl|crypto|upb|address_sorting|gpr' || true); do
        [ -e "$BUNDLE/lib/$(basename "$l")" ] || cp -L "$l" "$BUNDLE/lib/"
      done
    done
    # The node-suite cases that place nodes on the GPU travel with the bundle: the device's onnx
    # wheel carries no backend test data.
    node_src="$(.venv/bin/python -c 'import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), "backend/test/data/node"))' 2>/dev/null || true)"
    if [ -n "$node_src" ] && [ -d "$node_src" ]; then
      mkdir -p "$BUNDLE/node"
      "$BUNDLE/onnxd_gpu_node_suite" --data "$node_src" --pass-list tests/conformance/node_pass_list.txt --plan-only --verbose \
        | awk '$1 == "GPU" {sub(":", "", $2); print $2}' | while read -r c; do cp -r "$node_src/$c" "$BUNDLE/node/"; done
      echo "node-suite cases bundled: $(ls "$BUNDLE/node" | wc -l)"
    fi
    chmod u+w "$BUNDLE"/lib/* 2>/dev/null || true
    strip --strip-unneeded "$BUNDLE"/onnxd "$BUNDLE"/onnxd_loadgen "$BUNDLE"/onnxd_gpu_* $(ls "$BUNDLE"/lib/* 2>/dev/null || true)
    du -sh "$BUNDLE"
    # The engine's libraries (OpenBLAS alone is 36 MB) make the folder close to the 64 MiB a run
    # may carry: carry it compressed; the device half unpacks it.
    tar -czf "$BUNDLE.tar.gz" -C "$B" bundle
    du -sh "$BUNDLE.tar.gz"
    echo
    echo "Device run (tool 'run'):"
    echo "  carry:   [\"$BUNDLE.tar.gz\"]"
    echo "  command: ONNXD_GPU_BUILD=$B bash scripts/gpu_check.sh device"
    echo "  timeout_s: 580"
    ;;
  device)
    out="${OUT:-$PWD/gpu-out}"
    mkdir -p "$out"
    # The whole run stays inside ONNXD_GPU_BUDGET_S seconds (default 540, under the device tool's
    # 580 s limit): each later step gets what the earlier ones left, the model bench last.
    budget="${ONNXD_GPU_BUDGET_S:-540}"
    left() { echo $(( budget - SECONDS )); }
    # Always unpack a carried archive: a warm machine keeps the previous call's ignored bundle/
    # folder, whose binaries would otherwise run instead of the ones just built.
    if [ -f "$BUNDLE.tar.gz" ]; then
      rm -rf "$BUNDLE"
      tar -xzf "$BUNDLE.tar.gz" -C "$B"
    fi
    # Python (onnx, torch) runs with the machine's own library path: the bundle's Debian
    # libssl/libcrypto/protobuf/... must not shadow what its modules load. The onnxd binaries get
    # the bundle first (gpu_bench.py hands ONNXD_BENCH_LD_LIBRARY_PATH to the model bench).
    orig_ld="${LD_LIBRARY_PATH:-}"
    export LD_LIBRARY_PATH="$PWD/$BUNDLE/lib:/usr/local/cuda-13.0/targets/x86_64-linux/lib:/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}"
    nvidia-smi > "$out/nvidia-smi.txt" 2>&1 || true
    head -15 "$out/nvidia-smi.txt" || true
    rc=0
    # A hung kernel must not take the whole budget: each test binary gets a limit too.
    timeout 90 "$BUNDLE/onnxd_gpu_tests" --gtest_output="xml:$out/gpu_tests.xml" > "$out/gpu_tests.log" 2>&1 || rc=$?
    grep -E '^\[  (PASSED|FAILED|SKIPPED)|FAILED|SKIPPED|tests ran' "$out/gpu_tests.log" | tail -40 || true
    echo "onnxd_gpu_tests exit status: $rc"
    src=0
    ONNXD_CUDA_GRAPH_DEBUG=1 timeout 120 "$BUNDLE/onnxd_gpu_session_tests" --gtest_output="xml:$out/gpu_session_tests.xml" > "$out/gpu_session_tests.log" 2>&1 || src=$?
    grep -E '^\[  (PASSED|FAILED|SKIPPED)|FAILED|SKIPPED|tests ran|Failure|cuda |copies|not captured' "$out/gpu_session_tests.log" | tail -60 || true
    echo "onnxd_gpu_session_tests exit status: $src"
    [ "$rc" -ne 0 ] || rc=$src
    node_data="$PWD/$BUNDLE/node"
    [ -d "$node_data" ] || node_data="$(LD_LIBRARY_PATH="$orig_ld" python3 -c 'import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), "backend/test/data/node"))' 2>/dev/null || true)"
    if [ "${ONNXD_GPU_NODE_SUITE:-1}" = 0 ]; then
      echo "onnxd_gpu_node_suite: skipped (ONNXD_GPU_NODE_SUITE=0)"
    elif [ -n "$node_data" ] && [ -d "$node_data" ]; then
      nrc=0
      # At most 180 s, and never eating into the 200 s the benches need.
      node_s=$(( $(left) - 200 )); [ "$node_s" -le 180 ] || node_s=180; [ "$node_s" -ge 30 ] || node_s=30
      echo "onnxd_gpu_node_suite: ${node_s} s at most"
      timeout "$node_s" "$BUNDLE/onnxd_gpu_node_suite" --data "$node_data" --pass-list tests/conformance/node_pass_list.txt \
        --verbose --failures "$out/gpu_node_suite_failures.tsv" > "$out/gpu_node_suite.txt" 2>&1 || nrc=$?
      grep -E '^FAIL' "$out/gpu_node_suite.txt" | head -40 || true
      # --verbose: a PASS line per case, so a run cut short by its limit still shows how far it got.
      echo "$(grep -c '^PASS' "$out/gpu_node_suite.txt" || true) cases passed"
      tail -1 "$out/gpu_node_suite.txt"
      echo "onnxd_gpu_node_suite exit status: $nrc"
      [ "$rc" -ne 0 ] || rc=$nrc
    else
      echo "onnxd_gpu_node_suite: no onnx wheel with node test data on this machine; not run"
    fi
    # The daemon itself serving KIND_GPU models (scripts/gpu_serve_check.py; ONNXD_GPU_SERVE=0 skips).
    if [ "${ONNXD_GPU_SERVE:-1}" != 0 ]; then
      ONNXD_BENCH_LD_LIBRARY_PATH="$LD_LIBRARY_PATH" LD_LIBRARY_PATH="$orig_ld" \
        timeout 90 python3 scripts/gpu_serve_check.py --onnxd "$BUNDLE/onnxd" --out "$out" > "$out/serve.log" 2>&1 \
        || echo "gpu_serve_check.py exit status: $?"
      grep -v "^ " "$out/serve.log" | tail -14
    fi
    # Dynamic batching on the machine's CPU cores (ONNXD_GPU_BATCHING=1; bench/batching.py, 2 KIND_CPU
    # instances a model): on 16 cores the load generator is not squeezed onto the daemon's two.
    if [ "${ONNXD_GPU_BATCHING:-0}" = 1 ]; then
      ONNXD_BIN="$PWD/$BUNDLE/onnxd" ONNXD_BENCH_LD_LIBRARY_PATH="$LD_LIBRARY_PATH" LD_LIBRARY_PATH="$orig_ld" \
        timeout "${ONNXD_GPU_BATCHING_SECS:-100}" python3 bench/batching.py --loadgen "$PWD/$BUNDLE/onnxd_loadgen" \
        --out "$out/batching" --concurrency "${ONNXD_GPU_BATCHING_CONCURRENCY:-1,16}" --duration 2 \
        > "$out/batching.log" 2>&1 || echo "batching.py exit status: $?"
      grep -E "^- |^  Ceiling|Errors" "$out/batching.log" | tail -12
    fi
    # The kernel table (ONNXD_GPU_KERNEL_BENCH=0 skips it, leaving its minute to the model bench).
    if [ "${ONNXD_GPU_KERNEL_BENCH:-1}" != 0 ]; then
      timeout 60 "$BUNDLE/onnxd_gpu_bench" > "$out/gpu_bench.md" 2>&1 || echo "onnxd_gpu_bench exit status: $?"
      cat "$out/gpu_bench.md"
    fi
    # Model bench next to PyTorch eager (needs torch, torchvision, transformers on the device);
    # ONNXD_GPU_MODEL_BENCH=0 skips it.
    if [ "${ONNXD_GPU_MODEL_BENCH:-1}" != 0 ] && LD_LIBRARY_PATH="$orig_ld" python3 -c 'import torch' 2>/dev/null; then
      # ONNXD_GPU_DIAG=1 keeps ONNXD_GPU_DIAG_SECS (60) of the budget for the variants below.
      reserve=5; [ "${ONNXD_GPU_DIAG:-0}" = 1 ] && reserve=$(( 5 + ${ONNXD_GPU_DIAG_SECS:-60} ))
      bench_s="${ONNXD_GPU_MODEL_BENCH_SECS:-$(( $(left) - reserve ))}"; [ "$bench_s" -ge 30 ] || bench_s=30
      echo "gpu_bench.py: ${bench_s} s at most (gpu.md is rewritten after each point)"
      ONNXD_BENCH_LD_LIBRARY_PATH="$LD_LIBRARY_PATH" LD_LIBRARY_PATH="$orig_ld" \
        timeout "$bench_s" python3 scripts/gpu_bench.py --bench "$BUNDLE/onnxd_gpu_model_bench" \
        --out "$out" ${ONNXD_GPU_MODEL_BENCH_QUICK:+--quick} ${ONNXD_GPU_MODEL_BENCH_ONLY:+--only "$ONNXD_GPU_MODEL_BENCH_ONLY"} > "$out/gpu_model_bench.log" 2>&1 \
        || echo "gpu_bench.py exit status: $?"
      tail -20 "$out/gpu_model_bench.log"
    fi
    # Layout / fusion / graph variants with per-op GPU times (ONNXD_GPU_DIAG=1; scripts/gpu_diag.py).
    if [ "${ONNXD_GPU_DIAG:-0}" = 1 ] && [ "$(left)" -gt 35 ]; then
      diag_s=$(( $(left) - 5 ))
      ONNXD_BENCH_LD_LIBRARY_PATH="$LD_LIBRARY_PATH" LD_LIBRARY_PATH="$orig_ld" \
        timeout "$diag_s" python3 scripts/gpu_diag.py --bench "$BUNDLE/onnxd_gpu_model_bench" --out "$out" \
        ${ONNXD_GPU_DIAG_PLAN:+--plan "$ONNXD_GPU_DIAG_PLAN"} ${ONNXD_GPU_DIAG_VARIANTS:+--variants "$ONNXD_GPU_DIAG_VARIANTS"} \
        > "$out/gpu_diag.log" 2>&1 || echo "gpu_diag.py exit status: $?"
      grep -v -E "Warning|warn|^ +|^\[torch" "$out/gpu_diag.log" | tail -40
    fi
    # ONNXD_GPU_PACK=1: everything but the summaries into all.tgz (the device tool returns at most 8
    # files from $OUT).
    if [ "${ONNXD_GPU_PACK:-0}" = 1 ]; then
      tar czf /tmp/onnxd-gpu-all.tgz -C "$out" . || true
      find "$out" -maxdepth 1 -type f ! -name gpu.md ! -name serve.md ! -name gpu_bench.md ! -name console.log -delete || true
      rm -rf "$out/batching"
      mv /tmp/onnxd-gpu-all.tgz "$out/all.tgz" || true
    fi
    exit "$rc"
    ;;
  *)
    echo "usage: $0 [build|device]" >&2
    exit 2
    ;;
esac

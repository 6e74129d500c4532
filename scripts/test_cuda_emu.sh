#!/usr/bin/env bash
# The CUDA backend's tests without a GPU, through the CUDA emulator (tests/cuda_emu/README.md): the
# emulator's own cuBLAS/cuDNN checks, the GPU kernel tests, the CUDA session tests (two emulated
# GPUs, so the multi-GPU ones run too), the tiny transformer exports against onnxruntime with the
# fusions each run made (tests/cuda_emu/test_models.py) and every ONNX node-suite case the CUDA
# session places on the GPU, all built in build-emu/ and run on the CPU (about 3 minutes on 2 cores once built).
# scripts/test.sh runs it after the CPU tests.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -f /usr/local/cuda/include/cuda_runtime.h ] && ! command -v nvcc >/dev/null 2>&1; then
  echo "test_cuda_emu: no CUDA toolkit (headers) on this machine: the emulated GPU tests are skipped"
  exit 0
fi
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.ccache}"
cmake -S . -B build-emu -G Ninja -DCMAKE_BUILD_TYPE=Release -DONNXD_CUDA_EMU=ON >/dev/null
ninja -C build-emu -j"${ONNXD_BUILD_JOBS:-2}" onnxd_cuda_emu_tests onnxd_gpu_tests onnxd_gpu_session_tests \
  onnxd_gpu_node_suite

export ONNXD_CUDA_EMU_DEVICES=2

echo "== cuda_emu: the emulator's own checks (device, runtime, cuBLAS, cuDNN)"
build-emu/tests/onnxd_cuda_emu_tests --gtest_brief=1
echo "== cuda_emu: GPU kernel tests"
build-emu/tests/gpu/onnxd_gpu_tests --gtest_brief=1
# The threads of each block run in reverse order too: a result that changes has a race (a thread
# reading what another writes with no barrier between).
echo "== cuda_emu: GPU kernel tests, threads in reverse order"
ONNXD_CUDA_EMU_ORDER=reverse build-emu/tests/gpu/onnxd_gpu_tests --gtest_brief=1
echo "== cuda_emu: CUDA session tests"
build-emu/tests/gpu/onnxd_gpu_session_tests --gtest_brief=1
echo "== cuda_emu: tiny transformer exports through the CUDA session vs onnxruntime"
ninja -C build-emu -j"${ONNXD_BUILD_JOBS:-2}" onnxd_gpu_model_bench
.venv/bin/python -m pytest -q tests/cuda_emu/test_models.py
echo "== cuda_emu: ONNX node suite through CUDA sessions"
data=$(.venv/bin/python -c "import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), 'backend', 'test', 'data', 'node'))")
build-emu/tests/gpu/onnxd_gpu_node_suite --data "${data}" --pass-list tests/conformance/node_pass_list.txt
echo "== cuda_emu: ONNX node suite, threads in reverse order"
ONNXD_CUDA_EMU_ORDER=reverse build-emu/tests/gpu/onnxd_gpu_node_suite --data "${data}" \
  --pass-list tests/conformance/node_pass_list.txt

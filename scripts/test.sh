#!/usr/bin/env bash
# Runs every test: set-up, build, the C++ unit tests, the ONNX node-suite conformance gate and the
# Python tests that compare onnxd with onnxruntime. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
(cd build && ctest --output-on-failure -j2)
.venv/bin/python -m pytest -q tests/python tests/integration tests/corpus
bash scripts/check_deploy.sh
bash scripts/test_cuda_emu.sh

#!/usr/bin/env bash
# Builds onnxd (installing what a fresh Debian 12 machine lacks) and serves the bundled model
# repository (models/: iris, mnist_cnn, simple) on HTTP 8000, gRPC 8001. Extra flags pass through.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
[ -f models/simple/1/model.onnx ] || .venv/bin/python scripts/make_models.py
exec build/onnxd --model-repository models "$@"

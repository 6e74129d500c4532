#!/usr/bin/env bash
# Configures and builds onnxd into build/ (Release, ccache, -j2). The daemon lands at build/onnxd.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.ccache}"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C build -j"${ONNXD_BUILD_JOBS:-2}"

#!/usr/bin/env bash
# Runs the tutorial's models (../shared/models/tutorial) through the engine with build/onnxd.
set -euo pipefail
cd "$(dirname "$0")/.."
T=../shared/models/tutorial
[ -x build/onnxd ] || bash scripts/build.sh
build/onnxd inspect "$T/mnist-zoo-opset7/model.onnx"
for k in 0 1 2; do
  build/onnxd run "$T/mnist-zoo-opset7/model.onnx" --input-dir "$T/mnist-zoo-opset7/test_data_set_$k"
done
.venv/bin/python - "$T" <<'PY'
import sys, numpy as np
np.save("/tmp/onnxd_iris.npy", np.array([[4.5,4.9,5.1,5.4],[1.5,2.9,3.1,1.4],[7.5,6.9,8.1,6.4]], dtype=np.float32))
PY
build/onnxd run "$T/sklearn-rf-iris/model.onnx" --input float_input=/tmp/onnxd_iris.npy
build/onnxd bench "$T/mnist-zoo-opset7/model.onnx" --iterations 200

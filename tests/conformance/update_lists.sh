#!/usr/bin/env bash
# Regenerates each backend suite's pass list (<suite>_pass_list.txt) and failure list
# (<SUITE>_FAILURES.md) from a run of the suite runner, so both stay true:
#
#   tests/conformance/update_lists.sh [BUILD_DIR]      (default: build)
#
# Only cases that pass in this run go on a pass list; every other case goes on the failure list
# with its reason. Review the diff before committing: a case leaving a pass list is a regression.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
runner=$build/tests/onnxd_node_suite
data=$(.venv/bin/python -c "import onnx, os; print(os.path.join(os.path.dirname(onnx.__file__), 'backend', 'test', 'data'))")
for suite in node simple pytorch-converted pytorch-operator; do
  md=$(echo "$suite" | tr 'a-z-' 'A-Z_')_FAILURES.md
  "$runner" --data "$data/$suite" --suite "$suite" \
    --write-pass-list "tests/conformance/${suite}_pass_list.txt" \
    --write-failures "tests/conformance/$md"
done

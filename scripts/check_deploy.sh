#!/usr/bin/env bash
# Checks the deployment files (Dockerfile, helm/onnxd, deploy/) against the Kubernetes schemas and
# against onnxd itself; run by scripts/test.sh after the build. Every check is a pytest test in
# tests/deploy, so nothing is skipped silently (metrics that later issues add show as xfail):
#   - hadolint on the Dockerfile; the runtime stage's packages == the owners of `ldd build/onnxd`;
#     its HEALTHCHECK script against a running onnxd
#   - the chart rendered by Helm's own engine (helm-python-sdk) with its defaults and each
#     helm/onnxd/ci/*.yaml, `kubectl kustomize` of deploy/base and deploy/overlays/*, deploy/kserve:
#     every object validated strictly against the Kubernetes 1.25 and 1.37 schemas
#     (kubernetes-validate; the custom resources against tests/deploy/schemas), yamllint
#   - the flags, ports and probe paths of every rendered container against `onnxd --help` and a
#     real onnxd started with those arguments
#   - deploy/prometheus's scrape job, the Grafana dashboard's queries and the prometheus-adapter
#     rule in a real Prometheus scraping onnxd under traffic
#
#   scripts/check_deploy.sh                 run the checks (extra arguments go to pytest)
#   scripts/check_deploy.sh --render DIR    write every render to DIR/<name>.yaml to look at
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = "--render" ]; then
  out="${2:?usage: scripts/check_deploy.sh --render DIR}"
  mkdir -p "$out"
  .venv/bin/python - "$out" <<'PY'
import pathlib, sys
import yaml
sys.path.insert(0, "tests/deploy")
from deploy_util import all_renders
out = pathlib.Path(sys.argv[1])
for label, objs in all_renders():
    f = out / (label.replace(":", "_").replace("/", "_").removesuffix(".yaml") + ".yaml")
    f.write_text(yaml.safe_dump_all(objs, sort_keys=False))
    print(f"{f}: {len(objs)} objects")
PY
  exit 0
fi
[ -x build/onnxd ] || { echo "check_deploy: build/onnxd is missing: run scripts/build.sh first" >&2; exit 1; }
.venv/bin/python -m pytest -q -rxX tests/deploy "$@"

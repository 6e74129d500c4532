#!/usr/bin/env bash
# Installs what a fresh Debian 12 machine lacks to build and test onnxd: the Debian packages (via
# apt, with sudo when not root) and a project virtualenv (.venv) with the Python packages that
# tests, tools and benchmarks use. Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PKGS=(build-essential cmake ninja-build ccache pkg-config git
      libonnx-dev libprotobuf-dev protobuf-compiler libopenblas-dev
      libgtest-dev libgmock-dev libbenchmark-dev nlohmann-json3-dev libboost-dev
      libgrpc++-dev protobuf-compiler-grpc
      shellcheck
      python3 python3-venv python3-pip)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
if ! .venv/bin/python -c "import onnx, onnxruntime, numpy, PIL, pytest" 2>/dev/null ||
   [ requirements-dev.txt -nt .venv/.installed ]; then
  echo "setup: installing Python packages into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -r requirements-dev.txt
  touch .venv/.installed
fi

# Prometheus and promtool for the deployment checks (scripts/check_deploy.sh): Debian's package,
# unpacked into .venv rather than installed, so no prometheus service is set up on this machine.
if [ ! -x .venv/opt/prometheus/usr/bin/prometheus ]; then
  echo "setup: unpacking Debian's prometheus into .venv/opt/prometheus"
  tmp="$(mktemp -d)"
  chmod 755 "$tmp"  # apt's _apt user downloads into it
  asroot=""
  [ "$(id -u)" -eq 0 ] || asroot=sudo
  (cd "$tmp" && { apt-get download -qq prometheus 2>/dev/null ||
                  { $asroot apt-get update -qq && apt-get download -qq prometheus; }; })
  mkdir -p .venv/opt/prometheus
  dpkg-deb -x "$tmp"/prometheus_*.deb .venv/opt/prometheus
  rm -rf "$tmp"
fi
command -v kubectl >/dev/null ||
  echo "setup: warning: no kubectl; the deployment checks need one with kustomize v4+ (Debian 12's kubernetes-client is too old)"

"""The Dockerfile: hadolint, the runtime stage's packages against `ldd onnxd`, and the
HEALTHCHECK, ports and entrypoint against the real daemon."""
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import urllib.request

import pytest

from deploy_util import DEPLOY, ROOT, tool

DOCKERFILE = ROOT / "Dockerfile"
# ld.so, libc, libm and the vDSO come with every base image (glibc, Essential in Debian).
BASE_PACKAGES = {"libc6"}


def stages():
    """{stage name: [(INSTRUCTION, arguments)]} with continuation lines joined, comments dropped."""
    lines, cur = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        s = raw.strip()
        if not s or s.startswith("#"):
            continue
        cur = f"{cur} {s[:-1]}" if s.endswith("\\") else f"{cur} {s}"
        if not s.endswith("\\"):
            lines.append(cur.strip())
            cur = ""
    out, name = {}, None
    for line in lines:
        instr, _, rest = line.partition(" ")
        instr = instr.upper()
        if instr == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", rest, re.I)
            name = m.group(2) or m.group(1)
            out[name] = [("FROM", m.group(1))]
        elif name:
            out[name].append((instr, rest))
    return out


def apt_packages(stage):
    pkgs = []
    for instr, rest in stage:
        if instr != "RUN":
            continue
        for cmd in rest.split("&&"):
            words = shlex.split(cmd)
            if "apt-get" in words and "install" in words:
                pkgs += [w for w in words[words.index("install") + 1:] if not w.startswith("-")]
    return pkgs


def one(stage, instr):
    found = [rest for i, rest in stage if i == instr]
    assert len(found) == 1, f"{instr} appears {len(found)} times"
    return found[0]


def runtime_packages(binary, env=None):
    return subprocess.run(["bash", str(DEPLOY / "docker" / "runtime-packages.sh"), str(binary)],
                          capture_output=True, text=True, env=env)


def test_hadolint():
    r = subprocess.run([tool("hadolint"), str(DOCKERFILE)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_shellcheck_healthcheck_and_check_script():
    r = subprocess.run([tool("shellcheck"), str(DEPLOY / "docker" / "healthcheck.sh"),
                        str(ROOT / "scripts" / "check_deploy.sh")], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_runtime_stage_installs_exactly_the_libraries_onnxd_links(onnxd_binary):
    st = stages()
    runtime = st["runtime"]
    assert runtime[0] == ("FROM", "debian:bookworm-slim")
    assert list(st)[-1] == "runtime", "the CPU runtime must be the last stage (docker build's default target)"
    listed = set(apt_packages(runtime))
    assert listed, "the runtime stage installs no packages"

    # The script the CUDA stage derives its package list with: ldd, then the owning packages.
    # The CPU stage builds without the CUDA toolkit; a development build here may link it.
    r = runtime_packages(onnxd_binary, env={**os.environ, "SKIP_CUDA_TOOLKIT": "1"})
    assert r.returncode == 0, r.stderr
    owners = set(r.stdout.split())
    assert len(owners) >= 10 and "libc6" in owners, r.stdout
    needed = owners - BASE_PACKAGES
    missing = needed - listed
    assert not missing, f"packages owning libraries onnxd links that the runtime stage lacks: {sorted(missing)}"
    extra = listed - needed
    assert not extra, f"the runtime stage installs packages onnxd links nothing from: {sorted(extra)}"


def test_runtime_packages_script_fails_on_an_unowned_library(onnxd_binary, tmp_path):
    ldd = subprocess.run(["ldd", str(onnxd_binary)], check=True, capture_output=True, text=True).stdout
    zlib = re.search(r"libz\.so\.1 => (\S+)", ldd).group(1)
    shutil.copy(zlib, tmp_path / "libz.so.1")  # same library, but from a place no package owns
    r = runtime_packages(onnxd_binary, env={**os.environ, "LD_LIBRARY_PATH": str(tmp_path)})
    assert r.returncode != 0 and "no package owns" in r.stderr and "libz.so.1" in r.stderr, r.stdout + r.stderr


def test_runtime_stages_share_user_ports_healthcheck_and_entrypoint(daemon_defaults):
    st = stages()
    assert "cuda" in st, "no CUDA target"
    assert re.match(r"\$\{CUDA_RUNTIME_IMAGE\}|nvidia/cuda:.*runtime", st["cuda"][0][1])
    assert "nvidia/cuda:" in DOCKERFILE.read_text() and "-runtime-" in DOCKERFILE.read_text()
    runs = " ".join(rest for i, rest in st["build-cuda"] if i == "RUN")
    assert "deploy/docker/runtime-packages.sh /build/onnxd > /build/runtime-packages" in runs
    assert "xargs -a /tmp/runtime-packages" in " ".join(rest for i, rest in st["cuda"] if i == "RUN")
    ports = {int(daemon_defaults[f]) for f in ("--http-port", "--grpc-port", "--metrics-port")}
    for name in ("runtime", "cuda"):
        stage = st[name]
        assert one(stage, "USER").split(":")[0] not in ("0", "root"), name
        assert {int(p) for p in one(stage, "EXPOSE").split()} == ports, name
        entry = json.loads(one(stage, "ENTRYPOINT"))
        assert entry[0] == "onnxd" and entry[1:] == ["--model-repository", "/models"], entry
        hc = one(stage, "HEALTHCHECK")
        cmd = json.loads(hc[hc.index("CMD") + 3:].strip())
        # the entrypoint sets no --http-port, so the check must probe the default one
        assert cmd == ["onnxd-healthcheck", daemon_defaults["--http-port"], "/v2/health/ready"], cmd
        copies = [rest for i, rest in stage if i == "COPY"]
        assert any(c.startswith("deploy/docker/healthcheck.sh /usr/local/bin/onnxd-healthcheck") for c in copies)


def healthcheck(*args):
    return subprocess.run(["bash", str(DEPLOY / "docker" / "healthcheck.sh"), *map(str, args)],
                          capture_output=True, text=True, timeout=20).returncode


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_healthcheck_script_against_the_daemon(daemon):
    with urllib.request.urlopen(f"http://{daemon.http_url}/v2/health/ready", timeout=10) as r:
        assert r.status == 200
    assert healthcheck(daemon.http_port, "/v2/health/ready") == 0
    assert healthcheck(daemon.http_port, "/v2/health/live") == 0
    assert healthcheck(daemon.http_port, "/v2/health/not-a-path") == 1
    assert healthcheck(daemon.http_port, "/v2/models/no_such_model/ready") == 1
    assert healthcheck(closed_port(), "/v2/health/ready") == 1


def test_dockerignore_keeps_build_trees_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    for entry in (".git", ".venv", "build", "build-*"):
        assert entry in ignored
    st = stages()
    copies = [rest for name in ("build", "build-cuda") for i, rest in st[name] if i == "COPY"]
    assert ". ." in copies

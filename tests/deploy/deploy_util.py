"""Renders onnxd's deployment files (Helm chart, kustomize bases, KServe objects) into plain
Kubernetes objects, and the small helpers the deployment tests share."""
import pathlib
import re
import shutil
import subprocess

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHART = ROOT / "helm" / "onnxd"
DEPLOY = ROOT / "deploy"
VENV_BIN = ROOT / ".venv" / "bin"
# Debian's prometheus package unpacked by scripts/setup.sh (never installed as a service).
PROMETHEUS_DIR = ROOT / ".venv" / "opt" / "prometheus" / "usr" / "bin"


def tool(name):
    """The path of a tool the checks need, or an AssertionError naming what installs it."""
    for d in (VENV_BIN, PROMETHEUS_DIR):
        if (d / name).exists():
            return str(d / name)
    found = shutil.which(name)
    assert found, f"{name} is missing: run scripts/setup.sh"
    return found


def chart_value_sets():
    """(label, values files) for each chart render: the defaults and each ci/*.yaml."""
    sets = [("defaults", [])]
    for f in sorted((CHART / "ci").glob("*.yaml")):
        sets.append((f.stem, [f]))
    return sets


def render_chart(values_files=(), overrides=None, release="onnxd", namespace="serving"):
    """Renders the chart with Helm's own template engine (helm-python-sdk binds Helm's Go SDK).
    Returns {template path: text}; raises helm_python.HelmError when the chart refuses the values."""
    import helm_python as helm

    values = {}
    for f in values_files:
        values = _merge(values, yaml.safe_load(pathlib.Path(f).read_text()) or {})
    if overrides:
        values = _merge(values, overrides)
    with helm.Chart.load(str(CHART)) as chart:
        return chart.render(values, name=release, namespace=namespace)


def chart_objects(values_files=(), overrides=None, **kw):
    rendered = render_chart(values_files, overrides, **kw)
    objs = []
    for path, text in sorted(rendered.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        objs += [o for o in yaml.safe_load_all(text) if o]
    return objs


def kustomize(path):
    """`kubectl kustomize PATH` as a list of objects."""
    out = subprocess.run([tool("kubectl"), "kustomize", str(path)], check=True, capture_output=True, text=True)
    return [o for o in yaml.safe_load_all(out.stdout) if o]


def kustomize_dirs():
    return sorted(p.parent for p in DEPLOY.rglob("kustomization.yaml"))


def plain_objects(path):
    return [o for o in yaml.safe_load_all(pathlib.Path(path).read_text()) if o]


def render_targets():
    """Labels of every deployable thing in the repository: the chart with its defaults and with each
    ci/*.yaml, each kustomization, each KServe file. render(label) gives its objects."""
    labels = [f"helm:{label}" for label, _ in chart_value_sets()]
    labels += [f"kustomize:{d.relative_to(ROOT)}" for d in kustomize_dirs()]
    labels += [f"kserve:{f.name}" for f in sorted((DEPLOY / "kserve").glob("*.yaml"))]
    return labels


def render(label):
    kind, name = label.split(":", 1)
    if kind == "helm":
        return chart_objects(dict(chart_value_sets())[name])
    if kind == "kustomize":
        return kustomize(ROOT / name)
    return plain_objects(DEPLOY / "kserve" / name)


def all_renders():
    return [(label, render(label)) for label in render_targets()]


def _merge(a, b):
    out = dict(a)
    for k, v in b.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def pod_spec(obj):
    """The pod spec of a workload object (Deployment) or the runtime spec of a ServingRuntime."""
    if obj["kind"] == "Deployment":
        return obj["spec"]["template"]["spec"]
    if obj["kind"] == "ServingRuntime":
        return obj["spec"]
    return None


def expand_args(container, configmaps):
    """The container's arguments as the kubelet passes them: $(VAR) replaced from env and
    envFrom ConfigMaps."""
    env = {}
    for src in container.get("envFrom", []):
        name = src.get("configMapRef", {}).get("name")
        assert name in configmaps, f"envFrom names ConfigMap {name!r}, which the render lacks"
        env.update(configmaps[name])
    for e in container.get("env", []):
        if "value" in e:
            env[e["name"]] = e["value"]

    def sub(arg):
        def one(m):
            assert m.group(1) in env, f"{arg!r} uses $({m.group(1)}), which no env or ConfigMap defines"
            return str(env[m.group(1)])
        return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", one, arg)

    return [sub(a) for a in container.get("command", [])[1:] + container.get("args", [])]


def flag_values(args):
    """{--flag: [values]} from --flag=value and --flag value arguments."""
    out = {}
    i = 0
    while i < len(args):
        a = args[i]
        if a.startswith("--") and "=" in a:
            k, v = a.split("=", 1)
        elif a.startswith("--") and i + 1 < len(args) and not args[i + 1].startswith("--"):
            k, v = a, args[i + 1]
            i += 1
        else:
            k, v = a, None
        out.setdefault(k, []).append(v)
        i += 1
    return out


def stop(d):
    """Stops a daemon with SIGTERM: it must drain and exit 0 (what Kubernetes' rolling updates and
    the preStop/grace-period settings rely on)."""
    rc = d.stop()
    assert rc == 0, f"onnxd exited {rc} on SIGTERM:\n" + "".join(d.stderr_lines[-20:])
    return rc

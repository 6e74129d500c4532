"""The chart, the kustomize bases and the KServe files render into valid Kubernetes objects:
every object against the Kubernetes schemas (kubernetes-validate, strict, at the chart's oldest
supported version and the newest), the custom resources against schemas of the fields used, the
YAML through yamllint, and the chart's documented values and guards."""
import json
import pathlib
import re
import subprocess

import jsonschema
import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils as kv_utils
from referencing import Registry, Resource

from deploy_util import CHART, DEPLOY, ROOT, chart_objects, chart_value_sets, render, render_chart, render_targets, tool

K8S_VERSIONS = ["1.25", "1.37"]  # Chart.yaml's kubeVersion floor, and the newest schemas shipped
SCHEMAS = pathlib.Path(__file__).parent / "schemas"
CUSTOM = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor.json",
    ("serving.kserve.io/v1alpha1", "ServingRuntime"): "servingruntime.json",
    ("serving.kserve.io/v1beta1", "InferenceService"): "inferenceservice.json",
}


def validate(obj, version):
    key = (obj["apiVersion"], obj["kind"])
    if key not in CUSTOM:
        kubernetes_validate.validate(obj, version, strict=True)
        return
    full = [v for v in kv_utils.all_versions() if kv_utils.major_minor(v) == version][-1]
    defs = kv_utils.schema_contents(f"kubernetes-json-schema/v{full}-local-strict/_definitions.json", version)
    registry = Resource.from_contents(defs) @ Registry()
    schema = json.loads((SCHEMAS / CUSTOM[key]).read_text())
    schema["$id"] = f"https://kubernetes.io/api/{CUSTOM[key]}"  # so "/api/_definitions.json" resolves
    jsonschema.Draft202012Validator(schema, registry=registry).validate(obj)


@pytest.mark.parametrize("version", K8S_VERSIONS)
@pytest.mark.parametrize("label", render_targets())
def test_objects_match_kubernetes_schemas(label, version):
    objs = render(label)
    assert objs, f"{label} rendered nothing"
    for obj in objs:
        try:
            validate(obj, version)
        except (jsonschema.ValidationError, kubernetes_validate.ValidationError) as e:
            path = "/".join(str(p) for p in e.absolute_path)
            pytest.fail(f"{label}: {obj['kind']}/{obj['metadata']['name']} at {path}: {e.message}")


def test_validation_rejects_a_typo():
    dep = next(o for o in chart_objects() if o["kind"] == "Deployment")
    validate(dep, "1.37")
    dep["spec"]["template"]["spec"]["containers"][0]["livenesProbe"] = {"httpGet": {"path": "/", "port": 1}}
    with pytest.raises(kubernetes_validate.ValidationError):
        validate(dep, "1.37")
    sm = next(o for o in chart_objects(overrides={"serviceMonitor": {"enabled": True}}) if o["kind"] == "ServiceMonitor")
    validate(sm, "1.37")
    sm["spec"]["endpoints"][0]["intervall"] = "15s"
    with pytest.raises(jsonschema.ValidationError):
        validate(sm, "1.37")


def kinds(objs):
    return {o["kind"] for o in objs}


def test_chart_renders_every_object_the_issue_lists():
    seen = set()
    for _, files in chart_value_sets():
        seen |= kinds(chart_objects(files))
    assert {"Deployment", "Service", "ConfigMap", "PersistentVolumeClaim", "HorizontalPodAutoscaler",
            "ServiceMonitor", "PodDisruptionBudget", "ServiceAccount"} <= seen
    assert kinds(chart_objects()) == {"Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "ServiceAccount"}


def test_kustomize_base_and_kserve_objects():
    assert {"Deployment", "Service", "ConfigMap", "PodDisruptionBudget", "HorizontalPodAutoscaler"} <= kinds(
        render("kustomize:deploy/base"))
    rt = render("kserve:servingruntime.yaml")[0]
    assert rt["spec"]["supportedModelFormats"][0]["name"] == "onnx"
    assert set(rt["spec"]["protocolVersions"]) == {"v2", "grpc-v2"}
    assert rt["spec"]["annotations"]["prometheus.kserve.io/path"] == "/metrics"
    isvc = render("kserve:inferenceservice.yaml")[0]
    assert isvc["spec"]["predictor"]["model"]["runtime"] == rt["metadata"]["name"]
    assert isvc["spec"]["predictor"]["model"]["modelFormat"]["name"] == "onnx"


def containers(obj):
    spec = obj["spec"]["template"]["spec"] if obj["kind"] == "Deployment" else obj["spec"]
    return spec, spec.get("initContainers", []) + spec["containers"]


@pytest.mark.parametrize("label", [t for t in render_targets() if "inferenceservice" not in t])
def test_non_root_read_only_containers(label):
    for obj in render(label):
        if obj["kind"] not in ("Deployment", "ServingRuntime"):
            continue
        spec, cs = containers(obj)
        pod_sc = spec.get("securityContext", {})
        for c in cs:
            sc = c.get("securityContext", {})
            assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True, (label, c["name"])
            assert sc.get("runAsUser", pod_sc.get("runAsUser", 0)) != 0, (label, c["name"])
            assert sc.get("readOnlyRootFilesystem") is True, (label, c["name"])
            assert sc.get("allowPrivilegeEscalation") is False, (label, c["name"])
            assert "ALL" in sc.get("capabilities", {}).get("drop", []), (label, c["name"])


def gpu_checks(obj):
    spec = obj["spec"]["template"]["spec"]
    onnxd = next(c for c in spec["containers"] if c["name"] == "onnxd")
    assert int(onnxd["resources"]["limits"]["nvidia.com/gpu"]) >= 1
    assert onnxd["image"].endswith("-cuda")
    assert spec["nodeSelector"]["nvidia.com/gpu.present"] == "true"
    assert any(t["key"] == "nvidia.com/gpu" and t["effect"] == "NoSchedule" for t in spec["tolerations"])


def test_gpu_chart_and_overlay():
    dep = next(o for o in chart_objects([CHART / "ci" / "gpu-pvc-values.yaml"]) if o["kind"] == "Deployment")
    gpu_checks(dep)
    # the user's own nodeSelector and tolerations are kept next to the GPU ones
    assert dep["spec"]["template"]["spec"]["nodeSelector"]["kubernetes.io/os"] == "linux"
    assert any(t["key"] == "dedicated" for t in dep["spec"]["template"]["spec"]["tolerations"])
    gpu_checks(next(o for o in render("kustomize:deploy/overlays/gpu") if o["kind"] == "Deployment"))
    cpu = next(o for o in chart_objects() if o["kind"] == "Deployment")
    assert "nvidia.com/gpu" not in cpu["spec"]["template"]["spec"]["containers"][0]["resources"].get("limits", {})


def test_model_repository_sources():
    dep = next(o for o in chart_objects([CHART / "ci" / "queue-hpa-values.yaml"]) if o["kind"] == "Deployment")
    vol = next(v for v in dep["spec"]["template"]["spec"]["volumes"] if v["name"] == "models")
    assert vol["persistentVolumeClaim"]["claimName"] == "shared-models"
    assert "initContainers" not in dep["spec"]["template"]["spec"]
    objs = chart_objects()
    dep = next(o for o in objs if o["kind"] == "Deployment")
    init = dep["spec"]["template"]["spec"]["initContainers"][0]
    assert init["image"] == dep["spec"]["template"]["spec"]["containers"][0]["image"]
    assert any(m["name"] == "models" for m in init["volumeMounts"])
    pvc = next(o for o in chart_objects([CHART / "ci" / "gpu-pvc-values.yaml"]) if o["kind"] == "PersistentVolumeClaim")
    assert pvc["spec"]["resources"]["requests"]["storage"] == "50Gi"


def test_queue_time_hpa_uses_the_adapter_metric():
    objs = chart_objects([CHART / "ci" / "queue-hpa-values.yaml"])
    hpa = next(o for o in objs if o["kind"] == "HorizontalPodAutoscaler")
    metric = hpa["spec"]["metrics"][0]
    adapter = yaml.safe_load((CHART / "docs" / "prometheus-adapter-values.yaml").read_text())
    assert metric["type"] == "Pods"
    assert metric["pods"]["metric"]["name"] == adapter["rules"]["custom"][0]["name"]["as"]
    dep = next(o for o in objs if o["kind"] == "Deployment")
    assert "replicas" not in dep["spec"]  # the HPA owns the count
    readme = (CHART / "README.md").read_text()
    for part in ("delta(nv_inference_queue_duration_us", "(1 + delta(nv_inference_request_success", "[30s]"):
        assert part in adapter["rules"]["custom"][0]["metricsQuery"]
        assert part in readme


@pytest.mark.parametrize("bad", [
    {"shutdown": {"terminationGracePeriodSeconds": 40}},          # 10 s preStop + 30 s exit timeout
    {"server": {"exitTimeoutSecs": 60}},
    {"server": {"modelControlMode": "sometimes"}},
    {"modelRepository": {"source": "s3"}},
    {"autoscaling": {"enabled": True, "metric": "memory"}},
    {"serviceMonitor": {"enabled": True}, "server": {"allowMetrics": False}},
    # values.schema.json: misspelt keys and wrong types are refused, not ignored
    {"replicas": 2},
    {"server": {"httpport": 8000}},
    {"server": {"httpPort": "8000"}},
    {"gpu": {"enabled": "yes"}},
    {"server": {"extraArgs": ["default-max-batch-size=8"]}},
])
def test_chart_refuses_broken_values(bad):
    import helm_python as helm
    with pytest.raises(helm.HelmError):
        render_chart(overrides=bad)


def test_grace_period_outlasts_prestop_and_exit_timeout():
    for label in render_targets():
        for obj in render(label):
            if obj["kind"] != "Deployment":
                continue
            spec = obj["spec"]["template"]["spec"]
            cm = {o["metadata"]["name"]: o["data"] for o in render(label) if o["kind"] == "ConfigMap"}
            onnxd = next(c for c in spec["containers"] if c["name"] == "onnxd")
            sleep = int(onnxd["lifecycle"]["preStop"]["exec"]["command"][1])
            exit_timeout = int(next(iter(cm.values()))["ONNXD_EXIT_TIMEOUT_SECS"])
            assert spec["terminationGracePeriodSeconds"] > sleep + exit_timeout, label


def leaf_keys(d, prefix=""):
    for k, v in d.items():
        path = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            yield from leaf_keys(v, path + ".")
        else:
            yield path


def test_every_value_is_documented():
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    readme = (CHART / "README.md").read_text()
    missing = []
    for key in leaf_keys(values):
        parts = key.split(".")
        if not any(f"| `{'.'.join(parts[:i])}` |" in readme for i in range(len(parts), 0, -1)):
            missing.append(key)
    assert not missing, f"values not in helm/onnxd/README.md's table: {missing}"


def test_yamllint_sources():
    files = [CHART / "values.yaml", CHART / "Chart.yaml", CHART / "ci", CHART / "docs", DEPLOY]
    r = subprocess.run([tool("yamllint"), "-f", "parsable", "-c", str(pathlib.Path(__file__).parent / "yamllint.yaml"),
                        *map(str, files)], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_yamllint_rendered_chart(tmp_path):
    # Rendered text straight from Helm: duplicate keys or broken indentation in a template show here.
    n = 0
    for label, files in chart_value_sets():
        for path, text in render_chart(files).items():
            if path.endswith(".yaml") and text.strip():
                f = tmp_path / f"{label}-{pathlib.Path(path).name}"
                f.write_text(text)
                n += 1
    conf = "{extends: default, rules: {document-start: disable, line-length: {max: 160}, indentation: disable, " \
           "empty-lines: disable, comments: disable, truthy: disable}}"
    r = subprocess.run([tool("yamllint"), "-f", "parsable", "-d", conf, str(tmp_path)], capture_output=True, text=True)
    assert n >= 10
    assert r.returncode == 0, r.stdout + r.stderr


def test_kubectl_kustomize_is_recent_enough():
    # deploy/ uses kustomize v4+ syntax (resources: ../../base, patches: - path:). Debian 12's own
    # kubernetes-client (kubectl 1.20, kustomize v2) cannot render it; the machine image's kubectl can.
    r = subprocess.run([tool("kubectl"), "version", "--client"], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    m = re.search(r"Kustomize Version: v(\d+)", r.stdout)
    assert m and int(m.group(1)) >= 4, f"kubectl with kustomize v4 or later is needed, got:\n{r.stdout}"

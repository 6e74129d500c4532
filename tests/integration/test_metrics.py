"""/metrics parsed with prometheus-client's own text parser against known traffic: N successes,
failures of each kind (bad input and unknown output: OTHER; queue full: REJECTED; the request's
deadline: CANCELED; an engine error: BACKEND), batches of known sizes. Counters and histogram
counts are checked exactly, and the statistics API agrees with /metrics. Also the log formats.

The daemon here has its own repository (not the session one), so every count starts at zero."""
import concurrent.futures
import json
import re
import shutil
import urllib.error
import urllib.request

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from prometheus_client.parser import text_string_to_metric_families

from daemon_util import ROOT, Daemon, make_bytes_identity

REASONS = ("REJECTED", "CANCELED", "BACKEND", "OTHER")
HISTOGRAMS = ("onnxd_inference_request_duration_seconds", "onnxd_inference_queue_duration_seconds",
              "onnxd_inference_compute_duration_seconds")


def save(model, path):
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)


def make_slow(path):
    """X [1,1] -> Expand to 768x768 -> two 768^3 MatMuls -> ReduceMax: tens of milliseconds a run,
    not constant-foldable (everything depends on X)."""
    n = 768
    g = helper.make_graph(
        [helper.make_node("Expand", ["X", "shape"], ["E"]),
         helper.make_node("MatMul", ["E", "E"], ["M1"]),
         helper.make_node("MatMul", ["M1", "E"], ["M2"]),
         helper.make_node("ReduceMax", ["M2"], ["Y"], keepdims=1)],
        "slow", [helper.make_tensor_value_info("X", TensorProto.FLOAT, [1, 1])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [1, 1])],
        [helper.make_tensor("shape", TensorProto.INT64, [2], [n, n])])
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)


def make_reshaper(path):
    """Reshape(X, S): the engine fails at run time when S does not fit X (a BACKEND failure)."""
    g = helper.make_graph(
        [helper.make_node("Reshape", ["X", "S"], ["Y"])], "reshaper",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N"]),
         helper.make_tensor_value_info("S", TensorProto.INT64, [2])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)])
    save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)


SLOW_CONFIG = """
name: "slow"
max_batch_size: 0
instance_group [ { count: 1, kind: KIND_CPU } ]
dynamic_batching { default_queue_policy { max_queue_size: 1 } }
"""


@pytest.fixture(scope="module")
def metrics_repo(tmp_path_factory):
    r = tmp_path_factory.mktemp("metrics_repo")
    shutil.copytree(ROOT / "models" / "simple", r / "simple")
    make_slow(r / "slow" / "1" / "model.onnx")
    (r / "slow" / "config.pbtxt").write_text(SLOW_CONFIG)
    make_reshaper(r / "reshaper" / "1" / "model.onnx")
    make_bytes_identity(r / "we\"ird\\name" / "1" / "model.onnx")  # label escaping end to end
    (r / "broken" / "1").mkdir(parents=True)
    (r / "broken" / "1" / "model.onnx").write_bytes(b"not an onnx model")
    return r


@pytest.fixture(scope="module")
def mdaemon(metrics_repo):
    d = Daemon(metrics_repo, ["--metrics-config", "histogram_buckets=0.0001,0.001,0.01,0.1,1,10"])
    yield d
    assert d.alive(), "onnxd died:\n" + "".join(d.stderr_lines[-50:])
    assert d.stop() == 0


def scrape(d):
    with urllib.request.urlopen(f"http://localhost:{d.metrics_port}/metrics", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    samples, types = {}, {}
    for fam in text_string_to_metric_families(text):
        types[fam.name] = fam.type
        for s in fam.samples:
            key = (s.name, tuple(sorted(s.labels.items())))
            assert key not in samples, f"duplicate series {key}"
            samples[key] = s.value
    return samples, types, text


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))))


def buckets(samples, histogram, **labels):
    """{le as a float: cumulative count} of one histogram series."""
    out = {}
    for (name, lbls), v in samples.items():
        lbls = dict(lbls)
        le = lbls.pop("le", None)
        if name == histogram + "_bucket" and lbls == labels:
            out[float(le)] = v
    return out


def infer(d, model, inputs, outputs=None, parameters=None, request_id=None):
    body = {"inputs": inputs}
    if outputs is not None:
        body["outputs"] = [{"name": n} for n in outputs]
    if parameters:
        body["parameters"] = parameters
    if request_id:
        body["id"] = request_id
    req = urllib.request.Request(f"http://{d.http_url}/v2/models/{model}/infer", data=json.dumps(body).encode(),
                                 method="POST")
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def simple_inputs(batch, name0="INPUT0"):
    data = np.arange(16 * batch, dtype=np.int32).tolist()
    return [{"name": n, "shape": [batch, 16], "datatype": "INT32", "data": data} for n in (name0, "INPUT1")]


def stats(d, model):
    with urllib.request.urlopen(f"http://{d.http_url}/v2/models/{model}/stats", timeout=10) as r:
        s = json.loads(r.read())["model_stats"]
    assert len(s) == 1
    return s[0]


def test_known_traffic_gives_exact_counters_and_histograms(mdaemon):
    d = mdaemon
    batches = [1, 1, 2, 3, 5, 8, 8]
    for b in batches:
        status, body = infer(d, "simple", simple_inputs(b))
        assert status == 200, body
    # OTHER: an input the model lacks (x2), an output it lacks (x1).
    for _ in range(2):
        assert infer(d, "simple", simple_inputs(1, name0="NOPE"))[0] == 400
    assert infer(d, "simple", simple_inputs(1), outputs=["NOPE"])[0] == 400
    # CANCELED: a 1 us deadline ("timeout" parameter) passes before the request can run (x3).
    for _ in range(3):
        status, body = infer(d, "simple", simple_inputs(1), parameters={"timeout": 1})
        assert status != 200, body
    # BACKEND: the engine cannot reshape 6 values to 4x4 (x2).
    for _ in range(2):
        status, body = infer(d, "reshaper", [{"name": "X", "shape": [6], "datatype": "FP32", "data": [0.0] * 6},
                                             {"name": "S", "shape": [2], "datatype": "INT64", "data": [4, 4]}])
        assert status != 200, body

    samples, types, text = scrape(d)
    m = {"model": "simple", "version": "1"}
    ok = "nv_inference_request_success_total"  # prometheus-client names counter samples <name>_total
    fail = "nv_inference_request_failure_total"
    assert value(samples, ok, **m) == len(batches)
    assert value(samples, fail, reason="OTHER", **m) == 3
    assert value(samples, fail, reason="CANCELED", **m) == 3
    assert value(samples, fail, reason="REJECTED", **m) == 0
    assert value(samples, fail, reason="BACKEND", **m) == 0
    assert value(samples, fail, reason="BACKEND", model="reshaper", version="1") == 2
    assert value(samples, fail, reason="OTHER", model="reshaper", version="1") == 0
    assert value(samples, "nv_inference_count_total", **m) == sum(batches)
    assert value(samples, "nv_inference_exec_count_total", **m) == len(batches)  # no dynamic batching
    assert value(samples, "nv_inference_pending_request_count", **m) == 0
    assert value(samples, "nv_model_load_duration_secs", **m) > 0
    assert value(samples, "nv_model_state", state="READY", **m) == 1
    assert value(samples, "nv_model_state", model="broken", state="UNAVAILABLE", version="1") == 1
    for r in REASONS:  # every reason is there for every model version, zeros included
        assert value(samples, fail, reason=r, model="slow", version="1") is not None

    # Histograms: one observation per successful request (and per execution for batch sizes).
    for h in HISTOGRAMS:
        assert types[h] == "histogram"
        assert value(samples, h + "_count", **m) == len(batches)
        inf = value(samples, h + "_bucket", le="+Inf", **m)
        assert inf == len(batches)
        les = sorted(buckets(samples, h, **m).items())
        assert [le for le, _ in les] == [0.0001, 0.001, 0.01, 0.1, 1, 10, float("inf")]  # --metrics-config
        counts = [v for _, v in les]
        assert counts == sorted(counts), f"{h} buckets are not cumulative: {les}"
    # The request histogram's sum is the nv_ counter in seconds (the counter floors to us).
    req_sum = value(samples, "onnxd_inference_request_duration_seconds_sum", **m)
    assert abs(req_sum * 1e6 - value(samples, "nv_inference_request_duration_us_total", **m)) <= 1
    q_sum = value(samples, "onnxd_inference_queue_duration_seconds_sum", **m)
    assert abs(q_sum * 1e6 - value(samples, "nv_inference_queue_duration_us_total", **m)) <= 1
    # Batch sizes 1,1,2,3,5,8,8 in the default buckets 1,2,4,8,16...
    bs = "onnxd_inference_batch_size"
    assert types[bs] == "histogram"
    b = buckets(samples, bs, **m)
    assert (b[1], b[2], b[4], b[8], b[16], b[float("inf")]) == (2, 3, 4, 7, 7, 7), b
    assert value(samples, bs + "_count", **m) == 7
    assert value(samples, bs + "_sum", **m) == sum(batches)
    # Label values are escaped (the parser reads the model name back as it is on disk).
    assert value(samples, ok, model="we\"ird\\name", version="1") == 0
    assert 'model="we\\"ird\\\\name"' in text

    # The statistics API gives the same numbers.
    st = stats(d, "simple")
    inf_stats = st["inference_stats"]
    assert inf_stats["success"]["count"] == value(samples, ok, **m)
    assert inf_stats["fail"]["count"] == sum(value(samples, fail, reason=r, **m) for r in REASONS)
    assert st["inference_count"] == value(samples, "nv_inference_count_total", **m)
    assert st["execution_count"] == value(samples, "nv_inference_exec_count_total", **m)
    for key, counter in [("success", "nv_inference_request_duration_us"), ("queue", "nv_inference_queue_duration_us"),
                         ("compute_input", "nv_inference_compute_input_duration_us"),
                         ("compute_infer", "nv_inference_compute_infer_duration_us"),
                         ("compute_output", "nv_inference_compute_output_duration_us")]:
        assert int(inf_stats[key]["ns"]) // 1000 == value(samples, counter + "_total", **m), key
        assert inf_stats[key]["count"] == len(batches), key
    by_size = {b["batch_size"]: b["compute_infer"]["count"] for b in st["batch_stats"]}
    assert by_size == {b: batches.count(b) for b in set(batches)}
    assert st["last_inference"] > 0


def test_full_queue_is_rejected(mdaemon):
    """slow: one instance, max_queue_size 1. Of many requests sent at once, one runs, one waits and
    the rest are refused at once (503): each refusal is a REJECTED failure, each answer a success."""
    d = mdaemon
    before, _, _ = scrape(d)
    m = {"model": "slow", "version": "1"}
    x = [{"name": "X", "shape": [1, 1], "datatype": "FP32", "data": [1.0]}]
    codes = []
    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        for _ in range(5):  # a few rounds in case a loaded machine spreads the arrivals out
            codes += [f.result()[0] for f in [pool.submit(infer, d, "slow", x) for _ in range(12)]]
            if 503 in codes:
                break
    assert set(codes) <= {200, 503}, codes
    assert codes.count(503) >= 1, codes
    after, _, _ = scrape(d)
    fail = "nv_inference_request_failure_total"

    def delta(name, **labels):
        return value(after, name, **labels, **m) - (value(before, name, **labels, **m) or 0)

    assert delta(fail, reason="REJECTED") == codes.count(503)
    assert delta("nv_inference_request_success_total") == codes.count(200)
    for r in ("CANCELED", "BACKEND", "OTHER"):
        assert delta(fail, reason=r) == 0
    assert delta("onnxd_inference_request_duration_seconds_count") == codes.count(200)
    assert buckets(after, "onnxd_inference_batch_size", **m)[1] - \
        buckets(before, "onnxd_inference_batch_size", **m).get(1, 0) == codes.count(200)
    assert value(after, "nv_inference_pending_request_count", **m) == 0
    st = stats(d, "slow")
    assert st["inference_stats"]["fail"]["count"] == sum(value(after, fail, reason=r, **m) for r in REASONS)


def test_exposition_is_well_formed(mdaemon):
    _, types, text = scrape(mdaemon)
    helps = re.findall(r"^# HELP (\S+) ", text, re.M)
    type_lines = re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M)
    assert len(helps) == len(set(helps)), "a family's HELP appears twice"
    assert [n for n, _ in type_lines] == helps
    # Histogram families' series are grouped under their TYPE line; counters are counters.
    for name in ("nv_inference_request_success", "nv_inference_request_failure", "nv_inference_count",
                 "nv_inference_exec_count", "nv_inference_request_duration_us"):
        assert types[name] == "counter", name
    for name in ("nv_inference_pending_request_count", "nv_model_load_duration_secs", "nv_model_state",
                 "nv_cpu_utilization", "nv_cpu_memory_total_bytes"):
        assert types[name] == "gauge", name
    # No GPU driver here: no nv_gpu_* family at all (the GPU job checks them with a driver).
    if not any(n.startswith("nv_gpu_") for n in types):
        assert "nv_gpu_utilization" not in text


def test_histograms_and_gpu_and_cpu_metrics_can_be_turned_off(metrics_repo):
    d = Daemon(metrics_repo, ["--metrics-config", "histogram_latencies=false", "--allow-cpu-metrics", "false",
                              "--allow-gpu-metrics=false", "--metrics-config", "counter_latencies=false"])
    try:
        assert infer(d, "simple", simple_inputs(1))[0] == 200
        samples, types, text = scrape(d)
        assert value(samples, "nv_inference_request_success_total", model="simple", version="1") == 1
        assert not [t for t in types if t.startswith("onnxd_inference_")]
        assert not [t for t in types if t.startswith("nv_cpu_") or t.startswith("nv_gpu_")]
        assert "nv_inference_request_duration_us" not in types
    finally:
        assert d.stop() == 0


@pytest.mark.parametrize("args", [["--metrics-config", "histogram_buckets=0.1,0.01"],
                                  ["--metrics-config", "histogram_buckets=abc"],
                                  ["--metrics-config", "nope=1"], ["--log-format", "xml"],
                                  ["--allow-gpu-metrics", "maybe"]])
def test_bad_metrics_and_log_flags_are_refused(metrics_repo, args):
    from daemon_util import ONNXD
    import subprocess
    p = subprocess.run([str(ONNXD), "--model-repository", str(metrics_repo), *args], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 2, (p.stdout, p.stderr)
    assert args[0] in p.stderr


def test_json_logs_state_changes_and_verbose_request_ids(metrics_repo):
    d = Daemon(metrics_repo, ["--log-format", "json", "--log-verbose", "1"])
    try:
        assert infer(d, "simple", simple_inputs(1), request_id="req-42")[0] == 200
        assert infer(d, "simple", simple_inputs(1, name0="NOPE"), request_id="req-43")[0] == 400
    finally:
        assert d.stop() == 0
    lines = [json.loads(l) for l in d.stderr_lines if l.startswith("{")]
    assert not [l for l in d.stderr_lines if re.match(r"[EWIV] \d{4}-\d\d-\d\dT", l)], "a line in the default format"
    for l in lines:
        assert {"ts", "level", "msg"} <= set(l), l
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", l["ts"]), l
    states = {(l.get("model"), l.get("state")) for l in lines if "state" in l}
    assert ("simple", "LOADING") in states and ("simple", "READY") in states
    broken = [l for l in lines if l.get("model") == "broken" and l.get("state") == "UNAVAILABLE"]
    assert broken and broken[0]["reason"] and broken[0]["level"] == "ERROR", lines
    reqs = {l["request_id"]: l for l in lines if "request_id" in l}
    assert reqs["req-42"]["status"] == "OK" and reqs["req-42"]["model"] == "simple"
    assert reqs["req-42"]["level"] == "VERBOSE"
    assert reqs["req-43"]["status"] == "INVALID_ARGUMENT" and "NOPE" in reqs["req-43"]["msg"]


def test_no_log_line_per_request_at_default_level(metrics_repo):
    d = Daemon(metrics_repo)
    try:
        assert infer(d, "simple", simple_inputs(1))[0] == 200
        n = len(d.stderr_lines)
        for _ in range(20):
            assert infer(d, "simple", simple_inputs(1), request_id="quiet")[0] == 200
        assert len(d.stderr_lines) == n, d.stderr_lines[n:]
        assert any("model 'simple' version 1 is READY" in l for l in d.stderr_lines)
        assert any("model 'broken' version 1 is UNAVAILABLE: failed to load" in l for l in d.stderr_lines)
    finally:
        assert d.stop() == 0


def test_metrics_address(repo):
    d = Daemon(repo, ["--metrics-address", "127.0.0.1"])
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{d.metrics_port}/metrics", timeout=10) as r:
            assert "nv_cpu_memory_total_bytes" in r.read().decode()
    finally:
        assert d.stop() == 0

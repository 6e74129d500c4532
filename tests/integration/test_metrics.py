"""/metrics parsed with prometheus-client's own text parser; counters agree with known traffic and
with the statistics API."""
import json
import urllib.error
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

BODY = json.dumps({"inputs": [{"name": n, "shape": [1, 16], "datatype": "INT32", "data": list(range(16))}
                              for n in ("INPUT0", "INPUT1")]}).encode()
BAD = json.dumps({"inputs": [{"name": "NOPE", "shape": [1, 16], "datatype": "INT32", "data": [0] * 16}]}).encode()


def scrape(daemon):
    with urllib.request.urlopen(f"http://localhost:{daemon.metrics_port}/metrics", timeout=10) as r:
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = r.read().decode()
    samples = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return samples


def post(daemon, body):
    req = urllib.request.Request(f"http://{daemon.http_url}/v2/models/simple/infer", data=body, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def value(samples, name, **labels):
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_counters_follow_known_traffic(daemon):
    before = scrape(daemon)
    for _ in range(5):
        assert post(daemon, BODY) == 200
    for _ in range(2):
        assert post(daemon, BAD) == 400
    after = scrape(daemon)
    # prometheus-client names counter samples <name>_total
    ok = "nv_inference_request_success_total"
    fail = "nv_inference_request_failure_total"
    assert value(after, ok, model="simple", version="1") - value(before, ok, model="simple", version="1") == 5
    assert value(after, fail, model="simple", reason="OTHER", version="1") - \
        value(before, fail, model="simple", reason="OTHER", version="1") == 2
    assert value(after, "nv_model_state", model="simple", state="READY", version="1") == 1
    assert value(after, "nv_model_state", model="broken", state="UNAVAILABLE", version="1") == 1
    assert value(after, "nv_cpu_memory_total_bytes") > 0

    with urllib.request.urlopen(f"http://{daemon.http_url}/v2/models/simple/stats", timeout=10) as r:
        stats = json.loads(r.read())["model_stats"][0]
    assert stats["inference_stats"]["success"]["count"] == value(after, ok, model="simple", version="1")
    assert stats["inference_stats"]["fail"]["count"] == value(after, fail, model="simple", reason="OTHER", version="1")


def test_metrics_address(repo):
    from daemon_util import Daemon

    d = Daemon(repo, ["--metrics-address", "127.0.0.1"])
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{d.metrics_port}/metrics", timeout=10) as r:
            assert "nv_cpu_memory_total_bytes" in r.read().decode()
    finally:
        assert d.stop() == 0

"""The scheduler seen from clients: backpressure when a model's queue is full, queued work dropped
when its client hangs up or its deadline passes, and batching that never mixes shapes."""
import json
import socket
import threading
import time
import urllib.error
import urllib.request

import grpc
import numpy as np
import onnx
import pytest
import tritonclient.grpc as grpcclient
from onnx import TensorProto, helper, numpy_helper

from daemon_util import Daemon

SLOW_CONFIG = """max_batch_size: 0
instance_group [{ count: 1, kind: KIND_CPU }]
dynamic_batching { default_queue_policy { max_queue_size: 2 } }
"""
BATCH_CONFIG = """max_batch_size: 16
dynamic_batching { max_queue_delay_microseconds: 20000 }
"""


def write_slow(path, layers=64, width=1024):
    """x[128, 1024] through `layers` MatMuls: a few hundred milliseconds of compute."""
    w = np.eye(width, dtype=np.float32)
    nodes, prev = [], "x"
    for i in range(layers):
        out = "y" if i == layers - 1 else f"h{i}"
        nodes.append(helper.make_node("MatMul", [prev, "w"], [out]))
        prev = out
    g = helper.make_graph(nodes, "slow", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [128, width])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [128, width])],
                          [numpy_helper.from_array(w, "w")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, path)


def write_seq_sum(path):
    """x[N, T] -> y[N, 1] = sum over T: requests with different T must never share a batch."""
    g = helper.make_graph([helper.make_node("ReduceSum", ["x", "axes"], ["y"], keepdims=1)], "seq_sum",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "T"])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])],
                          [numpy_helper.from_array(np.array([1], np.int64), "axes")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, path)


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    repo = tmp_path_factory.mktemp("sched") / "repo"
    write_slow(repo / "slow" / "1" / "model.onnx")
    (repo / "slow" / "config.pbtxt").write_text(SLOW_CONFIG)
    write_seq_sum(repo / "seq_sum" / "1" / "model.onnx")
    (repo / "seq_sum" / "config.pbtxt").write_text(BATCH_CONFIG)
    d = Daemon(repo)
    yield d
    assert d.stop() == 0


SLOW_BODY = json.dumps({"inputs": [{"name": "x", "shape": [128, 1024], "datatype": "FP32",
                                    "data": [0.5] * (128 * 1024)}]}).encode()


def post(daemon, model, body, timeout=60):
    req = urllib.request.Request(f"http://{daemon.http_url}/v2/models/{model}/infer", data=body, method="POST")
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return r.status, json.loads(r.read())


def stats(daemon, model):
    with urllib.request.urlopen(f"http://{daemon.http_url}/v2/models/{model}/stats") as r:
        return json.loads(r.read())["model_stats"][0]


def in_background(fn):
    out = {}

    def run():
        try:
            out["result"] = fn()
        except Exception as e:  # noqa: BLE001 - reported by the caller
            out["error"] = e

    t = threading.Thread(target=run)
    t.start()
    return t, out


def wait_pending(daemon, n, timeout=10):
    """Until the model `slow` has one run going and `n` requests queued (its stats say so)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        with urllib.request.urlopen(f"http://localhost:{daemon.metrics_port}/metrics") as r:
            text = r.read().decode()
        for line in text.splitlines():
            if line.startswith('nv_inference_pending_request_count{model="slow"') and float(line.split()[-1]) == n:
                return
        time.sleep(0.01)
    raise AssertionError(f"'slow' never had {n} queued requests")


def test_full_queue_refuses_at_once_over_http_and_grpc(daemon):
    running, _ = in_background(lambda: post(daemon, "slow", SLOW_BODY))
    time.sleep(0.05)
    queued = [in_background(lambda: post(daemon, "slow", SLOW_BODY)) for _ in range(2)]
    client = grpcclient.InferenceServerClient(daemon.grpc_url)
    x = grpcclient.InferInput("x", [128, 1024], "FP32")
    x.set_data_from_numpy(np.full((128, 1024), 0.5, np.float32))
    wait_pending(daemon, 2)
    t0 = time.time()
    with pytest.raises(Exception) as g:
        client.infer("slow", [x])
    assert "UNAVAILABLE" in str(g.value) and "queue is full" in str(g.value)
    with pytest.raises(urllib.error.HTTPError) as e:
        post(daemon, "slow", SLOW_BODY)
    assert e.value.code == 503
    assert "queue is full" in json.loads(e.value.read())["error"]
    assert time.time() - t0 < 2.0, "refusals do not wait for the queue"
    for t, out in [(running, {})] + queued:
        t.join()
    assert all("error" not in out for _, out in queued), [out for _, out in queued]


def test_client_that_hangs_up_is_dropped_from_the_queue(daemon):
    before = stats(daemon, "slow")
    running, out = in_background(lambda: post(daemon, "slow", SLOW_BODY))
    time.sleep(0.05)
    s = socket.create_connection(("localhost", daemon.http_port))
    s.sendall(b"POST /v2/models/slow/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: " + str(len(SLOW_BODY)).encode() + b"\r\n\r\n" + SLOW_BODY)
    wait_pending(daemon, 1)
    s.close()
    running.join()
    assert "error" not in out, out
    deadline = time.time() + 10
    while time.time() < deadline:
        after = stats(daemon, "slow")
        if int(after["inference_stats"]["fail"]["count"]) > int(before["inference_stats"]["fail"]["count"]):
            break
        time.sleep(0.05)
    assert int(after["inference_stats"]["fail"]["count"]) == int(before["inference_stats"]["fail"]["count"]) + 1
    assert int(after["execution_count"]) == int(before["execution_count"]) + 1, "the hung-up request never ran"


def test_deadline_passed_in_the_queue_is_answered_504_without_running(daemon):
    before = stats(daemon, "slow")
    running, _ = in_background(lambda: post(daemon, "slow", SLOW_BODY))
    time.sleep(0.05)
    body = json.loads(SLOW_BODY)
    body["parameters"] = {"timeout": 20000}  # 20 ms, far less than the running request needs
    with pytest.raises(urllib.error.HTTPError) as e:
        post(daemon, "slow", json.dumps(body).encode())
    assert e.value.code == 504
    assert "deadline" in json.loads(e.value.read())["error"]
    running.join()
    assert int(stats(daemon, "slow")["execution_count"]) == int(before["execution_count"]) + 1
    # Over gRPC the call's own deadline does the same.
    running, _ = in_background(lambda: post(daemon, "slow", SLOW_BODY))
    time.sleep(0.05)
    client = grpcclient.InferenceServerClient(daemon.grpc_url)
    x = grpcclient.InferInput("x", [128, 1024], "FP32")
    x.set_data_from_numpy(np.full((128, 1024), 0.5, np.float32))
    with pytest.raises(Exception) as g:
        client.infer("slow", [x], client_timeout=0.02)
    assert "DEADLINE" in str(g.value).upper()
    running.join()


def test_concurrent_requests_of_two_shapes_batch_apart_and_get_their_own_rows(daemon):
    client = grpcclient.InferenceServerClient(daemon.grpc_url)
    errors = []

    def one(i):
        t = 3 if i % 2 else 5
        rows = 1 + i % 3
        x = np.arange(rows * t, dtype=np.float32).reshape(rows, t) + i
        inp = grpcclient.InferInput("x", [rows, t], "FP32")
        inp.set_data_from_numpy(x)
        y = client.infer("seq_sum", [inp]).as_numpy("y")
        if y.shape != (rows, 1) or not np.allclose(y[:, 0], x.sum(axis=1)):
            errors.append((i, y, x.sum(axis=1)))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    s = stats(daemon, "seq_sum")
    # Whether requests shared runs depends on timing (a model with nothing running sends at once);
    # what must hold is that every row was inferred exactly once, by runs of at most 16 rows.
    batches = {int(b["batch_size"]): int(b["compute_infer"]["count"]) for b in s["batch_stats"]}
    assert int(s["inference_count"]) == sum(1 + i % 3 for i in range(24))
    assert sum(size * n for size, n in batches.items()) == int(s["inference_count"]), batches
    assert max(batches) <= 16, batches

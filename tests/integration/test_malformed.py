"""A catalog of malformed requests: each gets a 4xx (or the matching gRPC code) with a message that
names what is wrong, and the server keeps serving afterwards."""
import json
import socket
import struct

import grpc
import numpy as np
import pytest
from tritonclient.grpc import service_pb2, service_pb2_grpc

from daemon_util import Daemon

GOOD_INPUTS = [{"name": "INPUT0", "shape": [1, 16], "datatype": "INT32", "data": list(range(16))},
               {"name": "INPUT1", "shape": [1, 16], "datatype": "INT32", "data": list(range(16))}]


@pytest.fixture(scope="module")
def small(repo):
    """A daemon with a 4 KiB body limit, for the body-limit case."""
    d = Daemon(repo, ["--http-max-body-bytes", "4096"])
    yield d
    d.stop()


def raw_http(port, data: bytes, timeout=20, half_close=False):
    """Sends raw bytes; returns (status, body text)."""
    with socket.create_connection(("localhost", port), timeout=timeout) as s:
        s.sendall(data)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        buf = b""
        while True:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
            head, sep, rest = buf.partition(b"\r\n\r\n")
            if sep:
                m = [l for l in head.split(b"\r\n") if l.lower().startswith(b"content-length:")]
                if m and len(rest) >= int(m[0].split(b":")[1]):
                    break
    head, _, body = buf.partition(b"\r\n\r\n")
    status = int(head.split(b" ")[1]) if head.startswith(b"HTTP/") else 0
    return status, body.decode("utf-8", "replace")


def post(port, path, body: bytes, headers=None):
    h = {"Host": "localhost", "Content-Type": "application/json", "Content-Length": str(len(body)), "Connection": "close"}
    h.update(headers or {})
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in h.items()) + "\r\n"
    return raw_http(port, head.encode() + body)


def infer_body(inputs=None, **extra):
    d = {"inputs": GOOD_INPUTS if inputs is None else inputs}
    d.update(extra)
    return json.dumps(d).encode()


def with_input(i, **changes):
    inputs = [dict(x) for x in GOOD_INPUTS]
    inputs[i].update(changes)
    return inputs


def binary_request(json_part: dict, binary: bytes):
    header = json.dumps(json_part).encode()
    return header + binary, {"Inference-Header-Content-Length": str(len(header)),
                              "Content-Type": "application/octet-stream"}


bin_ok_json = {"inputs": [{"name": "INPUT0", "shape": [1, 16], "datatype": "INT32", "parameters": {"binary_data_size": 64}},
                          {"name": "INPUT1", "shape": [1, 16], "datatype": "INT32", "parameters": {"binary_data_size": 64}}]}

HTTP_CASES = [
    # (id, path, body, extra headers, expected status, words the message must contain)
    ("bad-json", "/v2/models/simple/infer", b"{not json", None, 400, ["json"]),
    ("json-array", "/v2/models/simple/infer", b"[1,2]", None, 400, ["object"]),
    ("no-inputs", "/v2/models/simple/infer", b"{}", None, 400, ["inputs"]),
    ("inputs-not-array", "/v2/models/simple/infer", b'{"inputs": 5}', None, 400, ["inputs"]),
    ("input-no-name", "/v2/models/simple/infer", infer_body([{"shape": [1, 16], "datatype": "INT32", "data": [0] * 16}]), None, 400, ["name"]),
    ("input-no-datatype", "/v2/models/simple/infer", infer_body(with_input(0, datatype=None)), None, 400, ["datatype"]),
    ("input-no-shape", "/v2/models/simple/infer", infer_body(with_input(0, shape=None)), None, 400, ["shape"]),
    ("input-no-data", "/v2/models/simple/infer", infer_body(with_input(0, data=None)), None, 400, ["data"]),
    ("unknown-model", "/v2/models/nope/infer", infer_body(), None, 404, ["nope"]),
    ("unknown-version", "/v2/models/simple/versions/7/infer", infer_body(), None, 404, ["7"]),
    ("bad-version", "/v2/models/simple/versions/x1/infer", infer_body(), None, 400, ["x1"]),
    ("unknown-input", "/v2/models/simple/infer", infer_body(with_input(0, name="INPUTX")), None, 400, ["INPUTX"]),
    ("wrong-dtype", "/v2/models/simple/infer", infer_body(with_input(0, datatype="FP32", data=[0.5] * 16)), None, 400, ["INPUT0", "FP32"]),
    ("unknown-dtype", "/v2/models/simple/infer", infer_body(with_input(0, datatype="FLOAT99")), None, 400, ["FLOAT99"]),
    ("data-len-mismatch", "/v2/models/simple/infer", infer_body(with_input(0, data=list(range(15)))), None, 400, ["INPUT0"]),
    ("negative-dim", "/v2/models/simple/infer", infer_body(with_input(0, shape=[-1, 16])), None, 400, ["INPUT0"]),
    ("huge-dim", "/v2/models/simple/infer", infer_body(with_input(0, shape=[1, 10**15])), None, 400, ["INPUT0"]),
    ("wrong-rank", "/v2/models/simple/infer", infer_body(with_input(0, shape=[16])), None, 400, ["INPUT0"]),
    ("wrong-dim", "/v2/models/simple/infer", infer_body(with_input(0, shape=[1, 17], data=list(range(17)))), None, 400, ["INPUT0", "dim 1"]),
    ("over-max-batch", "/v2/models/simple/infer", infer_body(with_input(0, shape=[9, 16], data=[0] * 144)), None, 400, ["max_batch_size"]),
    ("missing-input", "/v2/models/simple/infer", infer_body(GOOD_INPUTS[:1]), None, 400, ["INPUT1"]),
    ("duplicate-input", "/v2/models/simple/infer", infer_body([GOOD_INPUTS[0], GOOD_INPUTS[0]]), None, 400, ["INPUT0"]),
    ("unknown-output", "/v2/models/simple/infer", infer_body(outputs=[{"name": "OUTPUT9"}]), None, 400, ["OUTPUT9"]),
    ("strings-for-int32", "/v2/models/simple/infer", infer_body(with_input(0, data=["a"] * 16)), None, 400, ["INPUT0"]),
    ("nested-ragged", "/v2/models/simple/infer", infer_body(with_input(0, data=[list(range(16)), [1]])), None, 400, ["INPUT0"]),
    ("header-length-too-big", "/v2/models/simple/infer", b'{"inputs": []}', {"Inference-Header-Content-Length": "1000"}, 400, ["Inference-Header-Content-Length"]),
    ("header-length-not-number", "/v2/models/simple/infer", b'{"inputs": []}', {"Inference-Header-Content-Length": "abc"}, 400, ["Inference-Header-Content-Length"]),
    ("binary-too-short", "/v2/models/simple/infer", *binary_request(bin_ok_json, b"\x00" * 100), 400, ["binary"]),
    ("binary-too-long", "/v2/models/simple/infer", *binary_request(bin_ok_json, b"\x00" * 200), 400, ["binary"]),
    ("binary-size-vs-shape", "/v2/models/simple/infer", *binary_request(
        {"inputs": [{"name": "INPUT0", "shape": [1, 16], "datatype": "INT32", "parameters": {"binary_data_size": 60}},
                    {"name": "INPUT1", "shape": [1, 16], "datatype": "INT32", "parameters": {"binary_data_size": 68}}]},
        b"\x00" * 128), 400, ["INPUT0"]),
    ("bytes-bad-length-prefix", "/v2/models/bytes_identity/infer", *binary_request(
        {"inputs": [{"name": "TEXT", "shape": [1], "datatype": "BYTES", "parameters": {"binary_data_size": 8}}]},
        struct.pack("<I", 1000) + b"abcd"), 400, ["TEXT"]),
    ("bytes-count-mismatch", "/v2/models/bytes_identity/infer", *binary_request(
        {"inputs": [{"name": "TEXT", "shape": [2], "datatype": "BYTES", "parameters": {"binary_data_size": 7}}]},
        struct.pack("<I", 3) + b"abc"), 400, ["TEXT"]),
    ("load-unknown-model", "/v2/repository/models/nope/load", b"{}", None, 404, ["nope"]),
    ("unknown-route", "/v2/frobnicate", b"{}", None, 404, []),
]


@pytest.mark.parametrize("case", HTTP_CASES, ids=[c[0] for c in HTTP_CASES])
def test_malformed_http(daemon, case):
    _, path, body, headers, status, words = case
    got, text = post(daemon.http_port, path, body, headers)
    assert got == status, text
    msg = json.loads(text)["error"]
    for w in words:
        assert w.lower() in msg.lower(), msg


def test_wrong_method(daemon):
    status, text = raw_http(daemon.http_port, b"GET /v2/models/simple/infer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status in (404, 405) and "error" in json.loads(text)


def test_content_length_longer_than_body(daemon):
    body = infer_body()
    head = (f"POST /v2/models/simple/infer HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body) + 50}\r\n\r\n").encode()
    status, _ = raw_http(daemon.http_port, head + body, timeout=10, half_close=True)
    assert status in (0, 400)  # the server may answer 400 or just close; it must not hang or die
    assert daemon.alive()


def test_content_length_shorter_than_body(daemon):
    body = infer_body()
    status, text = post(daemon.http_port, "/v2/models/simple/infer", body, {"Content-Length": str(len(body) - 10)})
    assert status == 400 and "json" in json.loads(text)["error"].lower()


def test_body_over_the_limit(small):
    status, text = post(small.http_port, "/v2/models/simple/infer", b" " * 10000 + infer_body())
    assert status == 413 and "error" in json.loads(text)
    assert small.alive()


def test_malformed_http_header(daemon):
    status, _ = raw_http(daemon.http_port, b"THIS IS NOT HTTP\r\n\r\n", timeout=10)
    assert status in (0, 400)
    assert daemon.alive()


@pytest.fixture(scope="module")
def stub(daemon):
    return service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(daemon.grpc_url))


def grpc_req(**kw):
    req = service_pb2.ModelInferRequest(model_name=kw.pop("model", "simple"))
    for name in ("INPUT0", "INPUT1"):
        req.inputs.add(name=name, datatype="INT32", shape=[1, 16])
    return req


def raw16():
    return np.arange(16, dtype=np.int32).tobytes()


def grpc_cases():
    cases = []
    r = grpc_req(model="nope")
    r.raw_input_contents.extend([raw16(), raw16()])
    cases.append(("unknown-model", r, grpc.StatusCode.NOT_FOUND, "nope"))
    r = grpc_req()
    r.raw_input_contents.extend([raw16()])
    cases.append(("raw-count", r, grpc.StatusCode.INVALID_ARGUMENT, "raw"))
    r = grpc_req()
    r.raw_input_contents.extend([raw16()[:60], raw16()])
    cases.append(("raw-size", r, grpc.StatusCode.INVALID_ARGUMENT, "INPUT0"))
    r = grpc_req()
    r.inputs[0].contents.fp32_contents.extend([0.0] * 16)
    r.inputs[1].contents.int_contents.extend([0] * 16)
    cases.append(("wrong-contents-type", r, grpc.StatusCode.INVALID_ARGUMENT, "INPUT0"))
    r = grpc_req()
    r.inputs[0].contents.int_contents.extend([0] * 15)
    r.inputs[1].contents.int_contents.extend([0] * 16)
    cases.append(("contents-count", r, grpc.StatusCode.INVALID_ARGUMENT, "INPUT0"))
    r = service_pb2.ModelInferRequest(model_name="bytes_identity")
    r.inputs.add(name="TEXT", datatype="BYTES", shape=[1])
    r.raw_input_contents.append(struct.pack("<I", 99) + b"ab")
    cases.append(("bytes-prefix", r, grpc.StatusCode.INVALID_ARGUMENT, "TEXT"))
    r = grpc_req()
    r.inputs[0].datatype = "NOPE"
    r.raw_input_contents.extend([raw16(), raw16()])
    cases.append(("bad-datatype", r, grpc.StatusCode.INVALID_ARGUMENT, "NOPE"))
    return cases


@pytest.mark.parametrize("case", grpc_cases(), ids=[c[0] for c in grpc_cases()])
def test_malformed_grpc(stub, case):
    _, req, code, word = case
    with pytest.raises(grpc.RpcError) as e:
        stub.ModelInfer(req)
    assert e.value.code() == code, e.value.details()
    assert word.lower() in e.value.details().lower(), e.value.details()


def test_still_serving_after_the_catalog(daemon, stub):
    status, text = post(daemon.http_port, "/v2/models/simple/infer", infer_body())
    assert status == 200, text
    req = grpc_req()
    req.raw_input_contents.extend([raw16(), raw16()])
    assert len(stub.ModelInfer(req).raw_output_contents) == 2

"""KServe v2 over gRPC with tritonclient.grpc (raw contents) and the raw stubs (typed contents)."""
import json

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.grpc import service_pb2, service_pb2_grpc


@pytest.fixture(scope="module")
def client(daemon):
    return grpcclient.InferenceServerClient(daemon.grpc_url)


@pytest.fixture(scope="module")
def stub(daemon):
    return service_pb2_grpc.GRPCInferenceServiceStub(grpc.insecure_channel(daemon.grpc_url))


def test_health_metadata_config(client):
    assert client.is_server_live() and client.is_server_ready()
    assert client.get_server_metadata().name == "onnxd"
    md = client.get_model_metadata("simple")
    assert [i.name for i in md.inputs] == ["INPUT0", "INPUT1"]
    assert list(md.inputs[0].shape) == [-1, 16]
    cfg = client.get_model_config("simple").config
    assert cfg.max_batch_size == 8 and list(cfg.input[0].dims) == [16]


def test_simple_infer_raw(client):
    a = np.arange(32, dtype=np.int32).reshape(2, 16)
    b = np.full((2, 16), 5, dtype=np.int32)
    inputs = [grpcclient.InferInput("INPUT0", [2, 16], "INT32"), grpcclient.InferInput("INPUT1", [2, 16], "INT32")]
    inputs[0].set_data_from_numpy(a)
    inputs[1].set_data_from_numpy(b)
    res = client.infer("simple", inputs, request_id="g1")
    np.testing.assert_array_equal(res.as_numpy("OUTPUT0"), a + b)
    np.testing.assert_array_equal(res.as_numpy("OUTPUT1"), a - b)
    assert res.get_response().id == "g1"


def test_typed_contents(stub):
    req = service_pb2.ModelInferRequest(model_name="simple")
    for name in ("INPUT0", "INPUT1"):
        t = req.inputs.add(name=name, datatype="INT32", shape=[1, 16])
        t.contents.int_contents.extend(range(16))
    resp = stub.ModelInfer(req)
    out = np.frombuffer(resp.raw_output_contents[0], dtype=np.int32)
    assert out.tolist() == [2 * v for v in range(16)]


def test_bytes_and_zipmap(client):
    text = np.array([b"abc", b"", b"xyz\x00"], dtype=np.object_)
    i = grpcclient.InferInput("TEXT", [3], "BYTES")
    i.set_data_from_numpy(text)
    res = client.infer("bytes_identity", [i])
    assert list(res.as_numpy("TEXT_OUT")) == list(text)
    x = np.array([[4.5, 4.9, 5.1, 5.4], [1.5, 2.9, 3.1, 1.4]], np.float32)
    i = grpcclient.InferInput("float_input", [2, 4], "FP32")
    i.set_data_from_numpy(x)
    res = client.infer("rf_iris", [i])
    rows = res.as_numpy("output_probability")
    assert len(rows) == 2
    probs = json.loads(rows[0])
    assert set(probs) == {"0", "1", "2"} and abs(sum(probs.values()) - 1) < 1e-5
    out = [o for o in res.get_response().outputs if o.name == "output_probability"][0]
    assert out.parameters["content_type"].string_param == "application/json"


def test_stream_infer(client):
    results = []
    client.start_stream(callback=lambda result, error: results.append((result, error)))
    a = np.ones((1, 16), np.int32)
    for k in range(3):
        inputs = [grpcclient.InferInput("INPUT0", [1, 16], "INT32"), grpcclient.InferInput("INPUT1", [1, 16], "INT32")]
        inputs[0].set_data_from_numpy(a * k)
        inputs[1].set_data_from_numpy(a)
        client.async_stream_infer("simple", inputs, request_id=str(k))
    client.stop_stream()
    assert len(results) == 3 and all(e is None for _, e in results)


def test_repository_and_statistics(client):
    index = {m.name: m for m in client.get_model_repository_index().models}
    assert index["simple"].state == "READY" and index["broken"].state == "UNAVAILABLE"
    stats = client.get_inference_statistics("simple").model_stats[0]
    assert stats.inference_stats.success.count >= 1


def test_health_service(daemon):
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    health = health_pb2_grpc.HealthStub(grpc.insecure_channel(daemon.grpc_url))
    resp = health.Check(health_pb2.HealthCheckRequest(service=""))
    assert resp.status == health_pb2.HealthCheckResponse.SERVING
    with pytest.raises(grpc.RpcError) as e:
        health.Check(health_pb2.HealthCheckRequest(service="no.such.Service"))
    assert e.value.code() == grpc.StatusCode.NOT_FOUND


def test_timeout_parameter_gives_deadline_exceeded(stub):
    # A 1 microsecond "timeout" parameter has passed by the time the request reaches compute.
    req = service_pb2.ModelInferRequest(model_name="simple")
    for name in ("INPUT0", "INPUT1"):
        t = req.inputs.add(name=name, datatype="INT32", shape=[1, 16])
        t.contents.int_contents.extend(range(16))
    req.parameters["timeout"].int64_param = 1
    with pytest.raises(grpc.RpcError) as e:
        stub.ModelInfer(req)
    assert e.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED, e.value.details()

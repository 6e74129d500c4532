"""KServe v2 over HTTP with tritonclient.http, against the real daemon."""
import json
import urllib.request

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import tritonclient.http as httpclient
from PIL import Image

from daemon_util import TUTORIAL


@pytest.fixture(scope="module")
def client(daemon):
    return httpclient.InferenceServerClient(daemon.http_url)


def http_json(daemon, method, path, body=None):
    req = urllib.request.Request(f"http://{daemon.http_url}{path}", method=method,
                                 data=None if body is None else json.dumps(body).encode())
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def test_health_and_server_metadata(client):
    assert client.is_server_live()
    assert client.is_server_ready()
    md = client.get_server_metadata()
    assert md["name"] == "onnxd"
    assert "binary_tensor_data" in md["extensions"]


def test_model_metadata_and_config(client):
    md = client.get_model_metadata("simple")
    assert md["name"] == "simple" and md["versions"] == ["1"]
    assert [i["name"] for i in md["inputs"]] == ["INPUT0", "INPUT1"]
    assert md["inputs"][0]["datatype"] == "INT32" and md["inputs"][0]["shape"] == [-1, 16]
    cfg = client.get_model_config("simple")
    assert cfg["max_batch_size"] == 8
    assert cfg["input"][0]["dims"] == [16]
    assert client.is_model_ready("simple")
    assert client.is_model_ready("simple", "1")


@pytest.mark.parametrize("binary", [True, False])
def test_simple_infer(client, binary):
    a = np.arange(16, dtype=np.int32).reshape(1, 16)
    b = np.ones((1, 16), dtype=np.int32)
    inputs = [httpclient.InferInput("INPUT0", [1, 16], "INT32"), httpclient.InferInput("INPUT1", [1, 16], "INT32")]
    inputs[0].set_data_from_numpy(a, binary_data=binary)
    inputs[1].set_data_from_numpy(b, binary_data=binary)
    outputs = [httpclient.InferRequestedOutput("OUTPUT0", binary_data=binary),
               httpclient.InferRequestedOutput("OUTPUT1", binary_data=binary)]
    res = client.infer("simple", inputs, outputs=outputs, request_id="req-42")
    np.testing.assert_array_equal(res.as_numpy("OUTPUT0"), a + b)
    np.testing.assert_array_equal(res.as_numpy("OUTPUT1"), a - b)
    assert res.get_response()["id"] == "req-42"


def test_output_selection(client):
    a = np.full((2, 16), 3, dtype=np.int32)
    inputs = [httpclient.InferInput("INPUT0", [2, 16], "INT32"), httpclient.InferInput("INPUT1", [2, 16], "INT32")]
    inputs[0].set_data_from_numpy(a)
    inputs[1].set_data_from_numpy(a)
    res = client.infer("simple", inputs, outputs=[httpclient.InferRequestedOutput("OUTPUT1")])
    assert [o["name"] for o in res.get_response()["outputs"]] == ["OUTPUT1"]
    np.testing.assert_array_equal(res.as_numpy("OUTPUT1"), np.zeros((2, 16), np.int32))


@pytest.mark.parametrize("binary", [True, False])
def test_bytes_in_and_out(client, binary):
    text = np.array([b"hello", b"", "h\xe9llo w\xf6rld".encode(), b"\x00\x01raw"], dtype=np.object_)
    inp = httpclient.InferInput("TEXT", [4], "BYTES")
    inp.set_data_from_numpy(text, binary_data=binary)
    res = client.infer("bytes_identity", [inp], outputs=[httpclient.InferRequestedOutput("TEXT_OUT", binary_data=binary)])
    out = res.as_numpy("TEXT_OUT")
    assert [bytes(x) if not isinstance(x, str) else x.encode() for x in out] == list(text) or \
        [x for x in out] == list(text)


def test_zipmap_output_is_one_object_per_row(daemon):
    x = [[4.5, 4.9, 5.1, 5.4], [1.5, 2.9, 3.1, 1.4], [7.5, 6.9, 8.1, 6.4]]
    status, body = http_json(daemon, "POST", "/v2/models/rf_iris/infer", {
        "inputs": [{"name": "float_input", "shape": [3, 4], "datatype": "FP32", "data": x}]})
    assert status == 200, body
    outs = {o["name"]: o for o in body["outputs"]}
    sess = ort.InferenceSession(str(TUTORIAL / "sklearn-rf-iris" / "model.onnx"), providers=["CPUExecutionProvider"])
    labels, probs = sess.run(None, {"float_input": np.array(x, np.float32)})
    assert outs["output_label"]["data"] == labels.tolist()
    rows = outs["output_probability"]["data"]
    assert len(rows) == 3
    for row, ref in zip(rows, probs):
        assert {int(k): v for k, v in row.items()} == pytest.approx(ref, rel=1e-5)
    assert outs["output_probability"]["parameters"]["content_type"] == "application/json"


def preprocess(path):
    img = Image.open(path).resize((28, 28)).convert("L")
    return np.asarray(img, dtype=np.float32).reshape(1, 1, 28, 28)


@pytest.mark.parametrize("model,src,inp,x", [
    ("pytorch_mnist", "pytorch-mnist", "input.1", lambda: preprocess(TUTORIAL / "images" / "3.png")),
    ("pytorch_mnist", "pytorch-mnist", "input.1", lambda: preprocess(TUTORIAL / "images" / "7.png")),
    ("mnist_zoo", "mnist-zoo-opset7", "Input3", lambda: onnx.numpy_helper.to_array(
        onnx.load_tensor(str(TUTORIAL / "mnist-zoo-opset7" / "test_data_set_1" / "input_0.pb")))),
])
def test_tutorial_cnns_answer_with_the_engines_results(client, model, src, inp, x):
    data = x()
    i = httpclient.InferInput(inp, list(data.shape), "FP32")
    i.set_data_from_numpy(data)
    res = client.infer(model, [i])
    out = res.as_numpy(res.get_response()["outputs"][0]["name"])
    ref = ort.InferenceSession(str(TUTORIAL / src / "model.onnx"), providers=["CPUExecutionProvider"]).run(
        None, {inp: data})[0]
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-3)


def test_v1_predict(daemon):
    status, body = http_json(daemon, "GET", "/v1/models/simple")
    assert status == 200 and body["model_version_status"][0]["state"] == "AVAILABLE"
    row = list(range(16))
    status, body = http_json(daemon, "POST", "/v1/models/simple:predict",
                             {"instances": [{"INPUT0": row, "INPUT1": row}]})
    assert status == 200, body
    assert body["predictions"][0]["OUTPUT0"] == [2 * v for v in row]
    status, body = http_json(daemon, "POST", "/v1/models/rf_iris:predict",
                             {"inputs": {"float_input": [[4.5, 4.9, 5.1, 5.4]]}})
    assert status == 200, body
    assert "outputs" in body


def test_repository_index_load_unload_and_stats(client, daemon):
    index = {m["name"]: m for m in client.get_model_repository_index()}
    assert index["simple"]["state"] == "READY"
    assert index["broken"]["state"] == "UNAVAILABLE" and index["broken"]["reason"]
    assert not client.is_model_ready("broken")
    client.unload_model("bytes_identity")
    assert not client.is_model_ready("bytes_identity")
    client.load_model("bytes_identity")
    assert client.is_model_ready("bytes_identity")
    stats = client.get_inference_statistics("simple")
    s = stats["model_stats"][0]
    assert s["name"] == "simple" and s["inference_count"] >= 1
    assert s["inference_stats"]["success"]["count"] >= 1
    assert "compute_infer" in s["inference_stats"]


def test_classification_extension(client):
    x = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    i = httpclient.InferInput("input", [2, 1, 28, 28], "FP32")
    i.set_data_from_numpy(x)
    full = client.infer("mnist_cnn", [i]).as_numpy("probabilities")
    res = client.infer("mnist_cnn", [i], outputs=[httpclient.InferRequestedOutput("probabilities", class_count=3)])
    top = res.as_numpy("probabilities")
    assert top.shape == (2, 3)
    for row, probs in zip(top, full):
        entries = [e.decode() if isinstance(e, bytes) else e for e in row]
        idx = [int(e.split(":")[1]) for e in entries]
        assert idx == list(np.argsort(-probs, kind="stable")[:3])
        assert float(entries[0].split(":")[0]) == pytest.approx(float(probs[idx[0]]), abs=1e-6)

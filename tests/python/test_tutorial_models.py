"""The tutorial's three models through `onnxd run`, checked against onnxruntime on the same inputs."""
import numpy as np
import onnx
import onnx.numpy_helper
import onnxruntime as ort
import pytest
from PIL import Image

from onnxd_cli import run_onnxd


def run_through_onnxd(tmp_path, model, feeds):
    """Runs `onnxd run` with one .npy per input; returns the outputs it wrote, in model order."""
    args = ["run", model]
    for name, array in feeds.items():
        path = tmp_path / f"{name.replace('.', '_')}.npy"
        np.save(path, array)
        args += ["--input", f"{name}={path}"]
    out_dir = tmp_path / "out"
    args += ["--output-dir", out_dir]
    run_onnxd(*args)
    outputs = []
    m = onnx.load(str(model), load_external_data=False)
    for i, out in enumerate(m.graph.output):
        data = (out_dir / f"output_{i}.pb").read_bytes()
        if out.type.HasField("sequence_type"):
            seq = onnx.SequenceProto()
            seq.ParseFromString(data)
            outputs.append(onnx.numpy_helper.to_list(seq))
        else:
            t = onnx.TensorProto()
            t.ParseFromString(data)
            outputs.append(onnx.numpy_helper.to_array(t))
    return outputs


def ort_run(model, feeds):
    sess = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return sess.run(None, feeds)


def map_to_dict(m):
    """A MapProto's content as {key: value}."""
    keys = list(m.string_keys) if m.key_type == onnx.TensorProto.STRING else list(m.keys)
    values = [float(onnx.numpy_helper.to_array(t)) for t in m.values.tensor_values]
    return dict(zip(keys, values))


def test_random_forest_iris_matches_onnxruntime(tmp_path, tutorial):
    model = tutorial / "sklearn-rf-iris" / "model.onnx"
    x = np.array([[4.5, 4.9, 5.1, 5.4], [1.5, 2.9, 3.1, 1.4], [7.5, 6.9, 8.1, 6.4]], dtype=np.float32)
    labels, probs = run_through_onnxd(tmp_path, model, {"float_input": x})
    ort_labels, ort_probs = ort_run(model, {"float_input": x})
    np.testing.assert_array_equal(labels, ort_labels)
    assert len(probs) == len(ort_probs) == 3
    for ours, theirs in zip(probs, ort_probs):
        ours = map_to_dict(ours) if isinstance(ours, onnx.MapProto) else dict(ours)
        assert sorted(ours) == sorted(theirs)
        for k in theirs:
            assert ours[k] == pytest.approx(theirs[k], rel=1e-5, abs=1e-6)


def preprocess(path):
    """The tutorial's preprocessing: resize to 28x28, grayscale, float32, [1,1,28,28]."""
    img = Image.open(path).resize((28, 28)).convert("L")
    return np.asarray(img, dtype=np.float32).reshape(1, 1, 28, 28)


@pytest.mark.parametrize("image", ["3.png", "7.png"])
def test_pytorch_mnist_matches_onnxruntime(tmp_path, tutorial, image):
    model = tutorial / "pytorch-mnist" / "model.onnx"
    x = preprocess(tutorial / "images" / image)
    (ours,) = run_through_onnxd(tmp_path, model, {"input.1": x})
    (theirs,) = ort_run(model, {"input.1": x})
    assert ours.shape == theirs.shape == (1, 10)
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
    assert int(np.argmax(ours)) == int(np.argmax(theirs))


@pytest.mark.parametrize("k", [0, 1, 2])
def test_mnist_zoo_matches_onnxruntime_and_its_data_sets(tmp_path, tutorial, k):
    model = tutorial / "mnist-zoo-opset7" / "model.onnx"
    t = onnx.TensorProto()
    t.ParseFromString((tutorial / "mnist-zoo-opset7" / f"test_data_set_{k}" / "input_0.pb").read_bytes())
    x = onnx.numpy_helper.to_array(t)
    (ours,) = run_through_onnxd(tmp_path, model, {"Input3": x})
    (theirs,) = ort_run(model, {"Input3": x})
    np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-3)
    assert int(np.argmax(ours)) == [2, 0, 9][k]

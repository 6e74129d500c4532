"""Makes the bundled default model repository (models/) that `onnxd --model-repository models` serves.

    .venv/bin/python scripts/make_models.py [OUT_DIR]

- iris:      scikit-learn LogisticRegression on the iris data set, converted with skl2onnx; outputs
             the label (int64) and ZipMap probabilities (seq(map(int64, float))).
- mnist_cnn: a LeNet-style CNN for 28x28 digits (Conv-Relu-MaxPool x2, Gemm x2, Softmax) built with
             onnx's helper API, fixed random weights (seed 0): a shape-and-speed demo, not a trained
             classifier.
- simple:    Triton's example-client model: INPUT0, INPUT1 INT32 [-1,16] -> OUTPUT0 = sum,
             OUTPUT1 = difference, max_batch_size 8.
"""
import pathlib
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def save(model, out, name, config):
    d = out / name / "1"
    d.mkdir(parents=True, exist_ok=True)
    onnx.save(model, d / "model.onnx")
    (out / name / "config.pbtxt").write_text(config)


def iris(out):
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    x, y = load_iris(return_X_y=True)
    clf = LogisticRegression(max_iter=500).fit(x.astype(np.float32), y)
    model = convert_sklearn(clf, initial_types=[("float_input", FloatTensorType([None, 4]))],
                            target_opset={"": 15, "ai.onnx.ml": 1}, options={id(clf): {"zipmap": True}})
    save(model, out, "iris", 'name: "iris"\nmax_batch_size: 64\ninstance_group [{ kind: KIND_CPU, count: 2 }]\n')


def mnist_cnn(out):
    rng = np.random.default_rng(0)

    def w(name, shape):
        fan_in = int(np.prod(shape[1:]))
        return numpy_helper.from_array((rng.standard_normal(shape) * (2.0 / fan_in) ** 0.5).astype(np.float32), name)

    inits = [w("c1w", (8, 1, 5, 5)), numpy_helper.from_array(np.zeros(8, np.float32), "c1b"),
             w("c2w", (16, 8, 5, 5)), numpy_helper.from_array(np.zeros(16, np.float32), "c2b"),
             w("f1w", (128, 256)), numpy_helper.from_array(np.zeros(128, np.float32), "f1b"),
             w("f2w", (10, 128)), numpy_helper.from_array(np.zeros(10, np.float32), "f2b")]
    nodes = [
        helper.make_node("Conv", ["input", "c1w", "c1b"], ["c1"], kernel_shape=[5, 5]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Conv", ["p1", "c2w", "c2b"], ["c2"], kernel_shape=[5, 5]),
        helper.make_node("Relu", ["c2"], ["r2"]),
        helper.make_node("MaxPool", ["r2"], ["p2"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("Flatten", ["p2"], ["flat"]),
        helper.make_node("Gemm", ["flat", "f1w", "f1b"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["hr"]),
        helper.make_node("Gemm", ["hr", "f2w", "f2b"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=1),
    ]
    g = helper.make_graph(nodes, "mnist_cnn",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])],
                          [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])], inits)
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="onnxd-make-models")
    model.ir_version = 8
    onnx.checker.check_model(model)
    save(model, out, "mnist_cnn", 'name: "mnist_cnn"\nmax_batch_size: 32\n')


def simple(out):
    nodes = [helper.make_node("Add", ["INPUT0", "INPUT1"], ["OUTPUT0"]),
             helper.make_node("Sub", ["INPUT0", "INPUT1"], ["OUTPUT1"])]
    io = lambda n: helper.make_tensor_value_info(n, TensorProto.INT32, ["N", 16])
    g = helper.make_graph(nodes, "simple", [io("INPUT0"), io("INPUT1")], [io("OUTPUT0"), io("OUTPUT1")])
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], producer_name="onnxd-make-models")
    model.ir_version = 8
    onnx.checker.check_model(model)
    save(model, out, "simple", """name: "simple"
max_batch_size: 8
input [
  { name: "INPUT0", data_type: TYPE_INT32, dims: [ 16 ] },
  { name: "INPUT1", data_type: TYPE_INT32, dims: [ 16 ] }
]
output [
  { name: "OUTPUT0", data_type: TYPE_INT32, dims: [ 16 ] },
  { name: "OUTPUT1", data_type: TYPE_INT32, dims: [ 16 ] }
]
""")


if __name__ == "__main__":
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parents[1] / "models")
    iris(out)
    mnist_cnn(out)
    simple(out)
    print(f"wrote iris, mnist_cnn and simple to {out}")

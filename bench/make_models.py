"""Builds the synthetic benchmark models (random weights, fixed seed) with onnx's helper API.

    .venv/bin/python bench/make_models.py OUT_DIR

- mlp.onnx:      x[N,512] -> 3 x (MatMul 512x512 + Add + Relu) -> MatMul 512x10 -> Softmax
- cnn.onnx:      x[N,3,64,64] -> stem Conv 3x3/2 (32) -> 4 residual blocks (Conv-BN-Relu x2 + Add,
                 widths 32, 64/2, 128/2, 128) -> GlobalAveragePool -> Flatten -> Gemm 10
- depthwise.onnx: x[N,32,56,56] -> MobileNet-style blocks (1x1 expand, 3x3 depthwise, 1x1 project)
"""
import pathlib
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(0)


def init(name, shape, scale=0.1):
    return numpy_helper.from_array((rng.standard_normal(shape) * scale).astype(np.float32), name)


def save(graph, path, opset=13):
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], producer_name="onnxd-bench")
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


def mlp(path):
    nodes, inits = [], []
    prev, width = "x", 512
    for i in range(3):
        inits += [init(f"w{i}", (width, 512), 0.05), init(f"b{i}", (512,))]
        nodes += [helper.make_node("MatMul", [prev, f"w{i}"], [f"m{i}"]),
                  helper.make_node("Add", [f"m{i}", f"b{i}"], [f"a{i}"]),
                  helper.make_node("Relu", [f"a{i}"], [f"r{i}"])]
        prev = f"r{i}"
    inits += [init("wo", (512, 10)), init("bo", (10,))]
    nodes += [helper.make_node("MatMul", [prev, "wo"], ["mo"]), helper.make_node("Add", ["mo", "bo"], ["logits"]),
              helper.make_node("Softmax", ["logits"], ["y"], axis=-1)]
    g = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 512])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], inits)
    save(g, path)


class Builder:
    def __init__(self):
        self.nodes, self.inits, self.n = [], [], 0

    def name(self, p):
        self.n += 1
        return f"{p}{self.n}"

    def conv_bn_relu(self, x, cin, cout, k, stride, group=1, relu=True):
        w, b = self.name("w"), self.name("b")
        self.inits += [init(w, (cout, cin // group, k, k), (2.0 / (cin // group * k * k)) ** 0.5), init(b, (cout,), 0.01)]
        c = self.name("conv")
        self.nodes.append(helper.make_node("Conv", [x, w, b], [c], kernel_shape=[k, k], strides=[stride, stride],
                                           pads=[k // 2] * 4, group=group))
        s, bb, m, v = (self.name(p) for p in ("s", "bb", "m", "v"))
        self.inits += [numpy_helper.from_array((1 + 0.1 * rng.standard_normal(cout)).astype(np.float32), s),
                       init(bb, (cout,), 0.1), init(m, (cout,), 0.1),
                       numpy_helper.from_array((1 + 0.1 * rng.random(cout)).astype(np.float32), v)]
        o = self.name("bn")
        self.nodes.append(helper.make_node("BatchNormalization", [c, s, bb, m, v], [o], epsilon=1e-5))
        if relu:
            r = self.name("relu")
            self.nodes.append(helper.make_node("Relu", [o], [r]))
            return r
        return o


def cnn(path):
    b = Builder()
    x = b.conv_bn_relu("x", 3, 32, 3, 2)
    cin = 32
    for cout, stride in [(32, 1), (64, 2), (128, 2), (128, 1)]:
        h = b.conv_bn_relu(x, cin, cout, 3, stride)
        h = b.conv_bn_relu(h, cout, cout, 3, 1, relu=False)
        sc = x if (cin == cout and stride == 1) else b.conv_bn_relu(x, cin, cout, 1, stride, relu=False)
        a = b.name("add")
        b.nodes.append(helper.make_node("Add", [h, sc], [a]))
        r = b.name("relu")
        b.nodes.append(helper.make_node("Relu", [a], [r]))
        x, cin = r, cout
    b.nodes += [helper.make_node("GlobalAveragePool", [x], ["gap"]), helper.make_node("Flatten", ["gap"], ["flat"])]
    b.inits += [init("fcw", (10, 128)), init("fcb", (10,))]
    b.nodes.append(helper.make_node("Gemm", ["flat", "fcw", "fcb"], ["y"], transB=1))
    g = helper.make_graph(b.nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 64, 64])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 10])], b.inits)
    save(g, path)


def mnist_io(path):
    """MNIST's inputs and outputs ([N,1,28,28] -> [N,10] float) with next to no compute: what a request
    costs in protocol, scheduling and client work alone, the floor that batching cannot go below."""
    nodes = [helper.make_node("Flatten", ["input"], ["flat"]),
             helper.make_node("Slice", ["flat", "starts", "ends", "axes"], ["probabilities"])]
    inits = [numpy_helper.from_array(np.array([0], np.int64), "starts"),
             numpy_helper.from_array(np.array([10], np.int64), "ends"),
             numpy_helper.from_array(np.array([1], np.int64), "axes")]
    g = helper.make_graph(nodes, "mnist_io", [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 1, 28, 28])],
                          [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", 10])], inits)
    save(g, path)


def depthwise(path):
    b = Builder()
    x, c = "x", 32
    for expand in [4, 4, 4]:
        h = b.conv_bn_relu(x, c, c * expand, 1, 1)
        h = b.conv_bn_relu(h, c * expand, c * expand, 3, 1, group=c * expand)
        h = b.conv_bn_relu(h, c * expand, c, 1, 1, relu=False)
        a = b.name("add")
        b.nodes.append(helper.make_node("Add", [h, x], [a]))
        x = a
    g = helper.make_graph(b.nodes, "depthwise", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 32, 56, 56])],
                          [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", 32, 56, 56])], b.inits)
    save(g, path)


if __name__ == "__main__":
    out = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "bench/models")
    out.mkdir(parents=True, exist_ok=True)
    mlp(out / "mlp.onnx")
    cnn(out / "cnn.onnx")
    depthwise(out / "depthwise.onnx")
    print(f"wrote mlp.onnx, cnn.onnx, depthwise.onnx to {out}")

"""DeformConv, Det, TensorScatter, BitCast, CausalConvWithState, FlexAttention and ImageDecoder against
onnxruntime (the onnx reference where onnxruntime has no kernel for the opset or domain) on shapes and attributes the node suite
does not reach: strides, dilations, groups, offset groups, padding, batches, double / float16.

    .venv/bin/python -m pytest tests/python/test_new_node_ops.py
"""
import os
import shutil
import sys
import tempfile

import numpy as np
import onnxruntime as ort
from onnx import TensorProto as TP
from onnx import helper
from onnx.reference import ReferenceEvaluator

sys.path.insert(0, os.path.dirname(__file__))
from ml_oracle import run_onnxd, write_case  # noqa: E402

ORACLE = {}
ort.set_default_logger_severity(3)  # TensorScatter logs a warning per run


def _model(node, inputs, outputs, opset):
    g = helper.make_graph([node], "g", inputs, outputs)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 11 if opset >= 23 else 10
    return m


def _case(root, name, model, feeds):
    try:
        out = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
        ORACLE[name] = "onnxruntime"
    except Exception:  # noqa: BLE001  no onnxruntime kernel at this opset
        out = ReferenceEvaluator(model).run(None, feeds)
        ORACLE[name] = "onnx reference"
    write_case(root, name, model, feeds, outputs=out)


def _vi(name, elem, shape=None):
    return helper.make_tensor_value_info(name, elem, shape)


def deform_conv_cases(root):
    rng = np.random.default_rng(1)
    configs = [
        # (N, C, H, W, OC, k, group, offset_group, pads, strides, dilations, mask, bias)
        (2, 4, 7, 6, 6, (3, 3), 2, 2, (1, 1, 1, 1), (1, 1), (1, 1), True, True),
        (1, 3, 9, 8, 4, (3, 2), 1, 3, (0, 1, 2, 0), (2, 1), (1, 2), False, True),
        (1, 2, 5, 5, 2, (1, 1), 2, 1, (0, 0, 0, 0), (1, 1), (1, 1), True, False),
        (1, 4, 10, 10, 8, (3, 3), 4, 1, (2, 2, 2, 2), (2, 2), (2, 2), True, True),
    ]
    for idx, (n, c, h, w, oc, k, g, og, pads, st, dil, use_mask, use_bias) in enumerate(configs):
        oh = (h + pads[0] + pads[2] - ((k[0] - 1) * dil[0] + 1)) // st[0] + 1
        ow = (w + pads[1] + pads[3] - ((k[1] - 1) * dil[1] + 1)) // st[1] + 1
        feeds = {
            "X": rng.standard_normal((n, c, h, w)).astype(np.float32),
            "W": rng.standard_normal((oc, c // g, *k)).astype(np.float32),
            # Offsets up to +-2.5 pixels: taps land between pixels and beyond the borders.
            "offset": (rng.random((n, og * k[0] * k[1] * 2, oh, ow)) * 5 - 2.5).astype(np.float32),
        }
        inputs = ["X", "W", "offset"]
        if use_bias or use_mask:
            feeds["B"] = rng.standard_normal(oc).astype(np.float32)
            inputs.append("B" if use_bias else "")
        if use_mask:
            feeds["mask"] = rng.random((n, og * k[0] * k[1], oh, ow)).astype(np.float32)
            inputs.append("mask")
        if not use_bias:
            feeds.pop("B", None)
        node = helper.make_node("DeformConv", inputs, ["Y"], kernel_shape=list(k), group=g, offset_group=og,
                                pads=list(pads), strides=list(st), dilations=list(dil))
        m = _model(node, [_vi(nm, TP.FLOAT, list(v.shape)) for nm, v in feeds.items()], [_vi("Y", TP.FLOAT)], 22)
        _case(root, f"deform_conv_{idx}", m, feeds)


def det_cases(root):
    rng = np.random.default_rng(2)
    for dt, np_dt in ((TP.FLOAT, np.float32), (TP.DOUBLE, np.float64)):
        for shape in ((1, 1), (5, 5), (2, 3, 4, 4)):
            x = rng.standard_normal(shape).astype(np_dt)
            m = _model(helper.make_node("Det", ["x"], ["y"]), [_vi("x", dt, list(shape))], [_vi("y", dt)], 22)
            _case(root, f"det_{np.dtype(np_dt).name}_{'x'.join(map(str, shape))}", m, {"x": x})
    x = np.array([[[1, 2], [2, 4]], [[0, 1], [1, 0]]], np.float32)  # singular, and a pivot swap
    m = _model(helper.make_node("Det", ["x"], ["y"]), [_vi("x", TP.FLOAT, [2, 2, 2])], [_vi("y", TP.FLOAT)], 22)
    _case(root, "det_singular_and_swap", m, {"x": x})


def tensor_scatter_cases(root):
    rng = np.random.default_rng(3)
    for mode in ("linear", "circular"):
        for axis, past_shape, upd_len in ((-2, (3, 2, 6, 4), 2), (1, (2, 5, 3), 3), (2, (2, 3, 7, 2), 4)):
            upd_shape = list(past_shape)
            upd_shape[axis] = upd_len
            ax = axis % len(past_shape)
            maxlen = past_shape[ax]
            wi = rng.integers(0, maxlen - upd_len + 1 if mode == "linear" else maxlen, size=past_shape[0]).astype(np.int64)
            feeds = {"past": rng.standard_normal(past_shape).astype(np.float32),
                     "update": rng.standard_normal(upd_shape).astype(np.float32), "wi": wi}
            node = helper.make_node("TensorScatter", ["past", "update", "wi"], ["present"], mode=mode, axis=axis)
            m = _model(node, [_vi("past", TP.FLOAT, list(past_shape)), _vi("update", TP.FLOAT, upd_shape),
                              _vi("wi", TP.INT64, [past_shape[0]])], [_vi("present", TP.FLOAT)], 24)
            _case(root, f"tensor_scatter_{mode}_{ax}", m, feeds)


def bitcast_cases(root):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 5)).astype(np.float16)
    for to, name in ((TP.INT16, "int16"), (TP.UINT16, "uint16"), (TP.BFLOAT16, "bfloat16")):
        out_t = to if to != TP.BFLOAT16 else TP.BFLOAT16
        nodes = [helper.make_node("BitCast", ["x"], ["b"], to=to)]
        # bfloat16 is read back through a float Cast (numpy has no bfloat16 for the feeds/outputs).
        if to == TP.BFLOAT16:
            nodes.append(helper.make_node("Cast", ["b"], ["y"], to=TP.FLOAT))
        else:
            nodes.append(helper.make_node("Identity", ["b"], ["y"]))
        g = helper.make_graph(nodes, "g", [_vi("x", TP.FLOAT16, [3, 5])], [_vi("y", TP.FLOAT if to == TP.BFLOAT16 else out_t)])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 26)])
        m.ir_version = 12
        _case(root, f"bitcast_float16_{name}", m, {"x": x})
    # Between 4-bit types: the nibble carries over, sign-extended for int4.
    nodes = [helper.make_node("Cast", ["x"], ["u"], to=TP.UINT4), helper.make_node("BitCast", ["u"], ["i"], to=TP.INT4),
             helper.make_node("Cast", ["i"], ["y"], to=TP.INT32)]
    g = helper.make_graph(nodes, "g", [_vi("x", TP.INT32, [16])], [_vi("y", TP.INT32)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 26)])
    m.ir_version = 12
    _case(root, "bitcast_uint4_int4", m, {"x": np.arange(16, dtype=np.int32)})


def causal_conv_cases(root):
    rng = np.random.default_rng(5)
    for dt, np_dt in ((TP.FLOAT, np.float32), (TP.DOUBLE, np.float64)):
        for b, c, length, k, act, with_state in ((3, 5, 11, 4, "silu", True), (1, 2, 1, 3, "none", True),
                                                 (2, 3, 6, 1, "swish", False)):
            feeds = {"x": rng.standard_normal((b, c, length)).astype(np_dt),
                     "w": rng.standard_normal((c, 1, k)).astype(np_dt), "bias": rng.standard_normal(c).astype(np_dt)}
            ins = ["x", "w", "bias"]
            if with_state:
                feeds["state"] = rng.standard_normal((b, c, k - 1)).astype(np_dt)
                ins.append("state")
            node = helper.make_node("CausalConvWithState", ins, ["y", "present"], activation=act)
            m = _model(node, [_vi(nm, dt, list(v.shape)) for nm, v in feeds.items()], [_vi("y", dt), _vi("present", dt)], 27)
            _case(root, f"causal_conv_{np.dtype(np_dt).name}_{b}x{c}x{length}_k{k}_{act}", m, feeds)


def flex_attention_cases(root):
    rng = np.random.default_rng(6)
    # score_mod: a causal mask built from the scores' shape; prob_mod: a scale.
    i64 = lambda name, v: helper.make_tensor(name, TP.INT64, [len(v)] if isinstance(v, list) else [], v if isinstance(v, list) else [v])  # noqa: E731
    causal = helper.make_graph(
        [helper.make_node("Shape", ["s"], ["sh"]),
         helper.make_node("Gather", ["sh", "i2"], ["l"], axis=0), helper.make_node("Gather", ["sh", "i3"], ["n"], axis=0),
         helper.make_node("Range", ["zero", "l", "one"], ["qr"]), helper.make_node("Reshape", ["qr", "qs"], ["qi"]),
         helper.make_node("Range", ["zero", "n", "one"], ["kr"]), helper.make_node("Reshape", ["kr", "ks"], ["ki"]),
         helper.make_node("GreaterOrEqual", ["qi", "ki"], ["m"]), helper.make_node("Where", ["m", "s", "ninf"], ["o"])],
        "causal", [_vi("s", TP.FLOAT)], [_vi("o", TP.FLOAT)],
        initializer=[i64("i2", 2), i64("i3", 3), i64("zero", 0), i64("one", 1), i64("qs", [1, 1, -1, 1]),
                     i64("ks", [1, 1, 1, -1]), helper.make_tensor("ninf", TP.FLOAT, [], [-np.inf])])
    halve = helper.make_graph([helper.make_node("Mul", ["p", "h"], ["o"])], "halve", [_vi("p", TP.FLOAT)], [_vi("o", TP.FLOAT)],
                              initializer=[helper.make_tensor("h", TP.FLOAT, [], [0.5])])
    for idx, (b, hq, hkv, l, s, e, ev, attrs) in enumerate([
            (2, 6, 2, 5, 7, 8, 3, {}), (1, 4, 4, 9, 9, 16, 16, {"scale": 0.3, "score_mod": causal}),
            (3, 2, 1, 4, 6, 5, 7, {"prob_mod": halve, "score_mod": causal})]):
        feeds = {"Q": rng.standard_normal((b, hq, l, e)).astype(np.float32),
                 "K": rng.standard_normal((b, hkv, s, e)).astype(np.float32),
                 "V": rng.standard_normal((b, hkv, s, ev)).astype(np.float32)}
        node = helper.make_node("FlexAttention", ["Q", "K", "V"], ["Y"], domain="ai.onnx.preview", **attrs)
        g = helper.make_graph([node], "g", [_vi(k, TP.FLOAT, list(v.shape)) for k, v in feeds.items()], [_vi("Y", TP.FLOAT)])
        m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 26), helper.make_opsetid("ai.onnx.preview", 1)])
        m.ir_version = 12
        _case(root, f"flex_attention_{idx}", m, feeds)


def image_decoder_cases(root):
    """PNG (every color type, Pillow's filters), BMP (8/24/32-bit) and PNM (binary and ASCII) encoded by
    Pillow; the reference decodes with Pillow too."""
    import io

    from PIL import Image
    rng = np.random.default_rng(7)
    # Smooth gradients plus noise, so PNG's Sub / Up / Average / Paeth filters all get chosen.
    yy, xx = np.mgrid[0:23, 0:37]
    base = np.stack([xx * 7, yy * 11, (xx + yy) * 3], axis=2) + rng.integers(0, 9, (23, 37, 3))
    rgb = (base % 256).astype(np.uint8)
    images = {
        "png_rgb": (Image.fromarray(rgb), "PNG", {}),
        "png_rgba": (Image.fromarray(np.dstack([rgb, rgb[:, :, :1]])), "PNG", {}),
        "png_gray": (Image.fromarray(rgb[:, :, 0]), "PNG", {}),
        "png_gray_alpha": (Image.fromarray(np.dstack([rgb[:, :, 0], rgb[:, :, 1]])).convert("LA"), "PNG", {}),
        "png_palette": (Image.fromarray(rgb).quantize(colors=40), "PNG", {}),
        "bmp_24": (Image.fromarray(rgb), "BMP", {}),
        "bmp_32": (Image.fromarray(np.dstack([rgb, rgb[:, :, :1]])), "BMP", {}),
        "bmp_8": (Image.fromarray(rgb).quantize(colors=17), "BMP", {}),
        "ppm_p6": (Image.fromarray(rgb), "PPM", {}),
        "pgm_p5": (Image.fromarray(rgb[:, :, 2]), "PPM", {}),
    }
    for name, (im, fmt, kw) in images.items():
        buf = io.BytesIO()
        im.save(buf, format=fmt, **kw)
        data = np.frombuffer(buf.getvalue(), np.uint8)
        for pf in ("RGB", "BGR", "Grayscale"):
            # The reference returns palette indices / alpha for P, RGBA and LA images in RGB/BGR mode;
            # ImageDecoder's output is 3 channels: compare those against Pillow's RGB conversion.
            node = helper.make_node("ImageDecoder", ["x"], ["y"], pixel_format=pf)
            m = _model(node, [_vi("x", TP.UINT8, [data.size])], [_vi("y", TP.UINT8)], 20)
            if pf == "Grayscale":
                out = [np.asarray(im.convert("L"))[:, :, None]]
            else:
                out = [np.asarray(im.convert("RGB"))[:, :, ::-1 if pf == "BGR" else 1].copy()]
            ORACLE[f"image_{name}_{pf}"] = "Pillow"
            write_case(root, f"image_{name}_{pf}", m, {"x": data}, outputs=out)
    # ASCII PNM (Pillow writes binary only).
    ascii_ppm = ("P3\n# a comment\n3 2\n255\n" + " ".join(str(v) for v in rgb[:2, :3].flatten()) + "\n").encode()
    data = np.frombuffer(ascii_ppm, np.uint8)
    m = _model(helper.make_node("ImageDecoder", ["x"], ["y"]), [_vi("x", TP.UINT8, [data.size])], [_vi("y", TP.UINT8)], 20)
    ORACLE["image_ppm_p3_RGB"] = "Pillow"
    write_case(root, "image_ppm_p3_RGB", m, {"x": data}, outputs=[rgb[:2, :3].copy()])


def image_decoder_garbage_cases(root):
    """Truncated and corrupted PNG / BMP / PNM bytes: each must give an answer or an error, never a
    crash or a hang (the runner reports those). The expected output is a placeholder."""
    import io

    from PIL import Image
    rng = np.random.default_rng(8)
    img = Image.fromarray(rng.integers(0, 256, (9, 13, 3)).astype(np.uint8))
    for fmt in ("PNG", "BMP", "PPM"):
        buf = io.BytesIO()
        img.save(buf, format=fmt)
        good = np.frombuffer(buf.getvalue(), np.uint8)
        for i in range(40):
            data = good.copy()
            if i % 2:
                data = data[: rng.integers(2, data.size)]
            else:
                idx = rng.integers(0, data.size, size=rng.integers(1, 6))
                data[idx] = rng.integers(0, 256, size=idx.size)
            m = _model(helper.make_node("ImageDecoder", ["x"], ["y"]), [_vi("x", TP.UINT8, [data.size])],
                       [_vi("y", TP.UINT8)], 20)
            write_case(root, f"garbage_{fmt.lower()}_{i}", m, {"x": data}, outputs=[np.zeros((1, 1, 3), np.uint8)])


ALL_CASES = [deform_conv_cases, det_cases, tensor_scatter_cases, bitcast_cases, causal_conv_cases, flex_attention_cases,
             image_decoder_cases]


def _run_all(root):
    for f in ALL_CASES:
        f(root)
    return run_onnxd(root)


def test_image_decoder_survives_garbage():
    root = tempfile.mkdtemp(prefix="onnxd_garbage_")
    try:
        image_decoder_garbage_cases(root)
        res = run_onnxd(root)
        assert len(res) == 120, f"{len(res)} cases ran"
        bad = {k: v for k, v in res.items() if "crashed" in v or "timed out" in v or "child exited" in v}
        assert not bad, "\n".join(f"{k}: {v}" for k, v in sorted(bad.items()))
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_new_node_ops_match_the_oracles():
    root = tempfile.mkdtemp(prefix="onnxd_newops_")
    try:
        res = _run_all(root)
        assert len(res) >= 55, f"only {len(res)} cases ran"
        failed = {k: v for k, v in res.items() if v}
        assert not failed, "\n".join(f"{k} ({ORACLE.get(k)}): {v}" for k, v in sorted(failed.items()))
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    root = sys.argv[1] if len(sys.argv) > 1 else "/tmp/newops_cases"
    shutil.rmtree(root, ignore_errors=True)
    os.makedirs(root)
    res = _run_all(root)
    for k, v in sorted(res.items()):
        print("PASS" if not v else "FAIL", k, f"[{ORACLE.get(k)}]", v[:300])
    print(sum(1 for v in res.values() if not v), "of", len(res), "pass")

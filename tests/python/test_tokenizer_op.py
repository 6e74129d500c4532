"""com.microsoft Tokenizer (what skl2onnx writes for CountVectorizer / TfidfVectorizer) against
onnxruntime: separators, character mode, tokenexp with leftmost-longest matches, mincharnum counted
in UTF-8 characters, mark, [N, C] inputs, strings without tokens and empty inputs.

    .venv/bin/python -m pytest tests/python/test_tokenizer_op.py   (ONNXD_NODE_SUITE=path to pick the suite)
"""
import os
import shutil
import sys
import tempfile

import numpy as np
from onnx import TensorProto, helper

sys.path.insert(0, os.path.dirname(__file__))
from ml_oracle import run_onnxd, write_case  # noqa: E402

TEXTS = ["Hello World", "I love  computer science !", "héllo wörld ü", "", "a1b22c,,d e", "aab aaa"]


def _model(**attrs):
    node = helper.make_node("Tokenizer", ["X"], ["Y"], domain="com.microsoft", **attrs)
    g = helper.make_graph([node], "g", [helper.make_tensor_value_info("X", TensorProto.STRING, None)],
                          [helper.make_tensor_value_info("Y", TensorProto.STRING, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    m.ir_version = 8
    return m


CASES = {
    "separator_space": (dict(separators=[" "]), TEXTS),
    "separators_several": (dict(separators=[" ", ",", "[0-9]+"]), TEXTS),
    "separator_longest_first": (dict(separators=["X", "XX"]), ["aXbXXc", "XXaX"]),
    "separators_win_over_tokenexp": (dict(separators=[" "], tokenexp="a"), ["ab cd"]),
    "chars": (dict(separators=[""]), TEXTS),
    "chars_mark": (dict(separators=[""], mark=1), ["abc", "dé"]),
    "tokenexp_sklearn": (dict(tokenexp="[a-zA-Z0-9_]+"), TEXTS),
    "tokenexp_mincharnum": (dict(tokenexp="[a-zA-Z0-9_]+", mincharnum=2), TEXTS),
    "separator_mincharnum_utf8": (dict(separators=[" "], mincharnum=5), TEXTS),
    "tokenexp_longest_alternative": (dict(tokenexp="a|aa"), ["aaa bb", "aab"]),
    "tokenexp_longest_optional": (dict(tokenexp="a*(ab)?"), ["aab", "xaabab"]),
    "tokenexp_word_boundary": (dict(tokenexp="\\bab\\b"), ["ab ab xab abx"]),
    "tokenexp_empty_matches": (dict(tokenexp="x*"), ["abc", "axxb"]),
    "mark": (dict(tokenexp="[a-z]+", mark=1), ["ab cd", "!!", "e"]),
    "mark_no_tokens_anywhere": (dict(tokenexp="[a-z]+", mark=1), ["!!", "??"]),
    "no_tokens": (dict(tokenexp="[a-z]+"), ["!!", "?"]),
    "two_d": (dict(tokenexp="[a-z]+"), np.array([["ab cd", "e"], ["", "fgh ij kl"]], dtype=object)),
    "two_d_one_row": (dict(separators=[" "]), np.array([["a b", "c"]], dtype=object)),
    "empty": (dict(separators=[" "]), np.zeros((0,), dtype=object)),
    "empty_two_d": (dict(tokenexp="[a-z]+"), np.zeros((2, 0), dtype=object)),
}


def test_tokenizer_matches_onnxruntime():
    root = tempfile.mkdtemp(prefix="onnxd_tok_")
    try:
        for name, (attrs, x) in CASES.items():
            full = dict(mark=0, mincharnum=1, pad_value="#")
            full.update(attrs)
            write_case(root, f"tokenizer_{name}", _model(**full), {"X": np.array(x, dtype=object)})
        res = run_onnxd(root)
        assert len(res) == len(CASES), f"{len(res)} of {len(CASES)} cases ran"
        failed = {k: v for k, v in res.items() if v}
        assert not failed, "\n".join(f"{k}: {v}" for k, v in sorted(failed.items()))
    finally:
        shutil.rmtree(root, ignore_errors=True)

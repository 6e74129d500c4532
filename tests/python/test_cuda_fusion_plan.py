"""What the CUDA session fuses and folds in real transformer exports (planner/cuda_fusions.h, printed
by `onnxd inspect --device cuda`; a plan, so no GPU is needed), checked against the models' own
structure found here independently:

- every Transpose of an attention block (one whose data reaches a MatMul of two activations through
  Reshape / Mul / Transpose only, or that reads such a MatMul's result through a Reshape) is folded
  into a GEMM's strides;
- every Softmax with a mask Add before it, or an IsNaN / Where cleanup after it, is one fused chain;
- every LayerNormalization whose input is an Add's (not a MatMul's bias Add) runs with its Add.
"""
import pathlib
import re

import onnx
import pytest

from onnxd_cli import run_onnxd

DATA = pathlib.Path(__file__).resolve().parents[1] / "data" / "transformers"
MODELS = sorted(DATA.glob("*.onnx"))


def structure(path):
    m = onnx.load(str(path))
    g = m.graph
    consts = {i.name for i in g.initializer} | {o for n in g.node if n.op_type == "Constant" for o in n.output}
    producer = {o: n for n in g.node for o in n.output}
    readers = {}
    for n in g.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)

    def is_const(name):
        return name in consts or (name in producer and all(is_const(i) for i in producer[name].input if i))

    def activation_matmul(n):
        return n.op_type == "MatMul" and not is_const(n.input[0]) and not is_const(n.input[1])

    def reaches_attention(value, depth=0):
        for r in readers.get(value, []):
            if activation_matmul(r) or r.op_type == "Shape":  # Shape reads only the dims
                continue
            if r.op_type in ("Reshape", "Mul", "Transpose") and depth < 6:
                if not reaches_attention(r.output[0], depth + 1):
                    return False
            else:
                return False
        return bool(readers.get(value))

    def from_attention(value):
        n = producer.get(value)
        if n is not None and n.op_type == "Reshape":
            n = producer.get(n.input[0])
        return n is not None and activation_matmul(n)

    transposes = [n for n in g.node if n.op_type == "Transpose"]
    attention_t = [n for n in transposes if reaches_attention(n.output[0]) or from_attention(n.input[0])]
    chains = 0
    for n in g.node:
        if n.op_type != "Softmax":
            continue
        masked = n.input[0] in producer and producer[n.input[0]].op_type == "Add"
        cleaned = any(r.op_type == "IsNaN" for r in readers.get(n.output[0], []))
        chains += masked or cleaned
    outputs = {o.name for o in g.output}
    order = {id(n): k for k, n in enumerate(g.node)}
    blocks = 0
    for n in g.node:
        if n.op_type != "Softmax":
            continue
        # Back: [Add(mask)] [Mul(scalar)] to a MatMul of two activations read only there.
        x, mask = n.input[0], None
        nodes_back = []
        while x in producer and producer[x].op_type in ("Add", "Mul") and len(readers.get(x, [])) == 1:
            a = producer[x]
            nodes_back.append(a)
            others = [i for i in a.input if i in producer and producer[i].op_type in ("Add", "Mul", "MatMul")]
            if a.op_type == "Add":
                mask = [i for i in a.input if i not in others]
            x = next((i for i in a.input if i in producer and producer[i].op_type in ("Add", "Mul", "MatMul")
                      and not is_const(i)), None)
            if x is None:
                break
        if x is None or x not in producer or not activation_matmul(producer[x]) or len(readers.get(x, [])) != 1:
            continue
        qk = producer[x]
        # A mask built after the first MatMul is fine when it does not depend on it (the session
        # runs what it needs first); one computed from the scores is not.
        descendants, todo = set(), [qk.output[0]]
        while todo:
            for r in readers.get(todo.pop(), []):
                if id(r) not in descendants:
                    descendants.add(id(r))
                    todo.extend(r.output)
        if mask and any(m in producer and id(producer[m]) in descendants for m in mask):
            continue
        # Forward: [IsNaN + Where] to a MatMul reading the probabilities as A.
        p = n.output[0]
        rs = readers.get(p, [])
        if len(rs) == 2 and {r.op_type for r in rs} == {"IsNaN", "Where"}:
            p = next(r for r in rs if r.op_type == "Where").output[0]
            rs = readers.get(p, [])
        if len(rs) == 1 and rs[0].op_type == "MatMul" and rs[0].input[0] == p and p not in outputs:
            blocks += 1
    add_ln = 0
    for n in g.node:
        if n.op_type != "LayerNormalization" or n.input[0] not in producer:
            continue
        a = producer[n.input[0]]
        bias_add = any(i in producer and producer[i].op_type == "MatMul" and is_const(producer[i].input[1])
                       for i in a.input) and any(is_const(i) for i in a.input)
        # (The sum may have other readers, a pre-LN block's residual stream: the kernel writes it too.)
        if a.op_type == "Add" and not bias_add:
            add_ln += 1
    return len(transposes), len(attention_t), chains, add_ln, blocks


@pytest.mark.parametrize("path", MODELS, ids=[p.stem for p in MODELS])
def test_attention_transposes_fold_and_softmax_chains_fuse(path):
    total, attention, chains, add_ln, blocks = structure(path)
    assert attention > 0, "the structure scan found no attention block"
    out = run_onnxd("inspect", path, "--device", "cuda").stdout
    m = re.search(r"fusions: attention blocks (\d+) \(fp16: one kernel\), softmax chains (\d+), Add\+LayerNorm (\d+), "
                  r"bias GEMMs (\d+), residual convolutions (\d+); transposes folded into GEMMs (\d+) of (\d+)", out)
    assert m, out
    got_blocks, got_chains, got_add_ln, _, _, folded, gpu_t = map(int, m.groups())
    assert got_blocks == blocks
    assert got_add_ln == add_ln
    assert gpu_t == total
    assert folded == attention, f"{folded} of {total} folded; attention blocks have {attention}"
    assert got_chains == chains

#!/usr/bin/env python3
"""Tiny transformer test models (issue 8's attention work), outside CI; the files it writes are
committed under tests/data/transformers/ and tests/python/test_transformer_models.py runs them.

HuggingFace BertModel (add_pooling_layer=False, as scripts/gpu_bench.py builds it), DistilBertModel,
GPT2Model and ViTModel, all TINY (hidden 64, 4 heads, 2 layers, intermediate 128, vocab 1000, max
positions 64; ViT: image 32, patch 8) with random weights from fixed seeds, each exported twice:

    <model>_ts.onnx      TorchScript exporter: dynamo=False, opset 17, gpu_bench.py's input and
                         output names (input_ids, attention_mask -> last_hidden_state; ViT:
                         pixel_values -> last_hidden_state), batch and sequence dynamic
    <model>_dynamo.onnx  the dynamo exporter (dynamo=True, opset 18), same names and dynamic axes
    bert_eager_ts.onnx   BERT with attn_implementation="eager" through the TorchScript exporter (the
                         shape older exports have: explicit MatMul / Softmax instead of SDPA's)

The other files use the installed transformers' default attention (sdpa in 5.x). Weights are inline
(one file each, well under 1 MB). An export that fails is reported and skipped, not fatal. Each
written file is checked against PyTorch in onnxruntime at another shape with a padded row, and
the op chain of one attention block is printed for tests/data/transformers/README.md.

It installs nothing; it needs the heavy venv (torch, transformers, onnx, onnxscript, onnxruntime):

    python3 -m venv .venv-heavy
    .venv-heavy/bin/pip install torch --index-url https://download.pytorch.org/whl/cpu
    .venv-heavy/bin/pip install transformers onnx==1.22.0 onnxscript onnxruntime
    .venv-heavy/bin/python scripts/make_transformer_models.py [--models bert,gpt2] [--out DIR]

Then rerun `.venv/bin/python -m pytest tests/python/test_transformer_models.py` and update the
README's versions and op chains if they changed.
"""
import argparse
import os
import pathlib
import sys
import traceback
import warnings

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "transformers"

TINY = dict(hidden=64, heads=4, layers=2, intermediate=128, vocab=1000, positions=64)
IMAGE, PATCH = 32, 8
# HF's default initializer_range (0.02) leaves the attention scores so small that every softmax is
# almost uniform, so a wrong transpose or mask would barely move the outputs; 0.2 gives peaked rows.
INIT_STD = 0.2
EXPORT_TEXT = (2, 8)    # batch, sequence of the example inputs at export (all-ones mask, as gpu_bench)
CHECK_TEXT = (3, 11)    # the check after export: other shape, one row padded
MODELS = ("bert", "bert_eager", "distilbert", "gpt2", "vit")


def build(kind):
    """The tiny model, eval mode, weights from seed 0."""
    import torch
    import transformers as tf
    torch.manual_seed(0)
    t = TINY
    if kind in ("bert", "bert_eager"):
        cfg = tf.BertConfig(vocab_size=t["vocab"], hidden_size=t["hidden"], num_hidden_layers=t["layers"],
                            num_attention_heads=t["heads"], intermediate_size=t["intermediate"],
                            max_position_embeddings=t["positions"], initializer_range=INIT_STD)
        if kind == "bert_eager":
            cfg._attn_implementation = "eager"
        model = tf.BertModel(cfg, add_pooling_layer=False)
    elif kind == "distilbert":
        cfg = tf.DistilBertConfig(vocab_size=t["vocab"], dim=t["hidden"], n_layers=t["layers"], n_heads=t["heads"],
                                  hidden_dim=t["intermediate"], max_position_embeddings=t["positions"],
                                  initializer_range=INIT_STD)
        model = tf.DistilBertModel(cfg)
    elif kind == "gpt2":
        cfg = tf.GPT2Config(vocab_size=t["vocab"], n_embd=t["hidden"], n_layer=t["layers"], n_head=t["heads"],
                            n_inner=t["intermediate"], n_positions=t["positions"], use_cache=False, bos_token_id=0, eos_token_id=0,
                            initializer_range=INIT_STD)
        model = tf.GPT2Model(cfg)
    elif kind == "vit":
        cfg = tf.ViTConfig(image_size=IMAGE, patch_size=PATCH, hidden_size=t["hidden"],
                           num_hidden_layers=t["layers"], num_attention_heads=t["heads"],
                           intermediate_size=t["intermediate"], initializer_range=INIT_STD)
        model = tf.ViTModel(cfg, add_pooling_layer=False)
    else:
        raise ValueError(kind)
    # HF starts every bias at 0 and every LayerNorm at (1, 0): the exporters then share one zero
    # initializer among all biases, and a bias added on the wrong axis would go unseen. Draw them.
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                base = 1.0 if ("norm" in name.lower() or "ln_" in name) and name.endswith("weight") else 0.0
                p.copy_(base + 0.1 * torch.randn(p.shape))
    return model.eval()


def attn_implementation(model):
    return getattr(model.config, "_attn_implementation", None) or "default"


class LastHidden:
    """Wraps a HF model so the export takes the inputs by name and returns last_hidden_state alone
    (GPT2Model's second positional parameter is the cache, not the mask)."""

    @staticmethod
    def make(model, image):
        import torch

        class Wrapped(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.model = model

            if image:
                def forward(self, pixel_values):
                    return self.model(pixel_values=pixel_values).last_hidden_state
            else:
                def forward(self, input_ids, attention_mask):
                    return self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

        return Wrapped().eval()


def text_inputs(batch, seq, pad_row, seed):
    """input_ids and an int64 attention_mask; with pad_row, the last row keeps only its first
    seq // 2 tokens."""
    import torch
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, TINY["vocab"], (batch, seq), generator=g)
    mask = torch.ones(batch, seq, dtype=torch.int64)
    if pad_row:
        mask[-1, seq // 2:] = 0
    return ids, mask


def image_inputs(batch, seed):
    import torch
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, 3, IMAGE, IMAGE, generator=g),)


def export(kind, exporter, path):
    """One export; returns the torch module that was exported (to check the file against)."""
    import torch
    model = build(kind)
    image = kind == "vit"
    if image:
        args = image_inputs(2, 1)
        names, outs = ["pixel_values"], ["last_hidden_state"]
        dyn = {"pixel_values": {0: "batch"}, "last_hidden_state": {0: "batch"}}
    else:
        args = text_inputs(*EXPORT_TEXT, pad_row=False, seed=1)
        names, outs = ["input_ids", "attention_mask"], ["last_hidden_state"]
        axes = {0: "batch", 1: "sequence"}
        dyn = {"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes}
    if os.path.exists(path):
        os.remove(path)

    def run(module):
        if exporter == "ts":
            torch.onnx.export(module, args, path, input_names=names, output_names=outs, dynamic_axes=dyn,
                              opset_version=17, dynamo=False)
        else:
            torch.onnx.export(module, args, path, input_names=names, output_names=outs, dynamic_axes=dyn,
                              opset_version=18, dynamo=True, external_data=False)
        return module

    # BERT goes in first as gpu_bench.py passes it (the HF module itself, positional ids and mask);
    # the others, and BERT where that fails, through the wrapper (named inputs, one output: the
    # same graph, its names prefixed "model.").
    if kind in ("bert", "bert_eager"):
        try:
            return run(model), "HF module as gpu_bench.py passes it"
        except TypeError as e:
            # transformers 5.x under the TorchScript exporter: the exporter fills every parameter
            # left out with its default, positionally (use_cache=None among them), and
            # merge_with_config_defaults adds use_cache as a keyword too.
            note = f"the HF module itself failed ({str(e)[:120]}); exported through the wrapper"
            return run(LastHidden.make(model, image)), note
    return run(LastHidden.make(model, image)), "wrapper"


def check_against_torch(module, kind, path):
    """Largest |ort - torch| on CHECK_TEXT inputs with a padded row (ViT: batch 3)."""
    import onnxruntime as ort
    import torch
    if kind == "vit":
        args = image_inputs(3, 2)
        feeds = {"pixel_values": args[0].numpy()}
    else:
        args = text_inputs(*CHECK_TEXT, pad_row=True, seed=2)
        feeds = {"input_ids": args[0].numpy(), "attention_mask": args[1].numpy()}
    with torch.no_grad():
        ref = module(*args)
    if not torch.is_tensor(ref):
        ref = ref[0]
    got = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    assert got.shape == tuple(ref.shape), (got.shape, ref.shape)
    return float(np.abs(got - ref.numpy()).max())


# ---- the op chain of one attention block ----------------------------------------------------------

LIST_BATCH, LIST_SEQ = 5, 13   # the run that gives the listing its shapes: 5 -> B, 13 (ViT: 17) -> S


def _listing_feeds(kind):
    rng = np.random.default_rng(3)
    if kind == "vit":
        return {"pixel_values": rng.standard_normal((LIST_BATCH, 3, IMAGE, IMAGE)).astype(np.float32)}
    mask = np.ones((LIST_BATCH, LIST_SEQ), np.int64)
    mask[-1, LIST_SEQ // 2:] = 0
    return {"input_ids": rng.integers(0, TINY["vocab"], (LIST_BATCH, LIST_SEQ)).astype(np.int64),
            "attention_mask": mask}


def _all_values(model, feeds):
    """Every node output of one onnxruntime run (graph optimisations off, so none disappears)."""
    import copy
    import onnx
    import onnxruntime as ort
    m = copy.deepcopy(model)
    have = {o.name for o in m.graph.output}
    for n in m.graph.node:
        for o in n.output:
            if o and o not in have:
                m.graph.output.append(onnx.ValueInfoProto(name=o))
                have.add(o)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def attention_listing(path, kind):
    """The first attention block of the model as text lines: every node from the Q/K/V projections
    to the output projection's bias Add in graph order, with attributes, constant inputs (value and
    shape), the shape of what each node makes (B and S for the run's batch and sequence), and the
    integer shape vectors computed at run time shown by value; then the mask path: the nodes outside
    the block that feed it, back to the graph inputs."""
    import onnx
    from onnx import helper, numpy_helper
    model = onnx.load(path)
    g = model.graph
    feeds = _listing_feeds(kind)
    seq = feeds["pixel_values"].shape[2] // PATCH if kind == "vit" else LIST_SEQ
    seq = seq * seq + 1 if kind == "vit" else seq
    values = {**_all_values(model, feeds), **feeds}
    consts = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for n in g.node:  # Constant nodes, and Identity of a constant (the TorchScript exporter's shared weights)
        if n.op_type == "Constant" or (n.op_type == "Identity" and n.input[0] in consts):
            consts[n.output[0]] = values[n.output[0]]
    producer = {o: n for n in g.node for o in n.output}
    consumers = {}
    for n in g.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)

    heads = TINY["heads"]

    def sym(d):
        return {LIST_BATCH: "B", seq: "S", LIST_BATCH * seq: "B*S", LIST_BATCH * heads: f"B*{heads}"}.get(
            int(d), str(int(d)))

    def shape_text(a):
        return "[" + ",".join(sym(d) for d in a.shape) + "]"

    def is_shape_vector(name):
        """An int64 vector (a shape, an index) or a small bool vector computed from shapes."""
        a = values.get(name)
        return a is not None and name not in feeds and a.ndim <= 1 and (
            a.dtype == np.int64 or (a.dtype == np.bool_ and a.size <= 8))

    def ancestors(names, stop=lambda n: False):
        seen, stack = set(), list(names)
        while stack:
            v = stack.pop()
            p = producer.get(v)
            if p is None or id(p) in seen:
                continue
            seen.add(id(p))
            if not stop(p):
                stack.extend(p.input)
        return seen

    def weight_of(n):
        """The constant 2-D weight of a MatMul / Gemm, or None."""
        if n.op_type in ("MatMul", "Gemm") and len(n.input) > 1 and n.input[1] in consts \
                and consts[n.input[1]].ndim == 2:
            return n.input[1]
        return None

    softmax = next(n for n in g.node if n.op_type == "Softmax")
    # The projections: MatMul / Gemm with a constant weight among the Softmax's ancestors (Q, K) and,
    # walking forward from the Softmax, the first such after the context MatMul (the output projection).
    proj = [n for n in g.node if id(n) in ancestors(softmax.input, stop=lambda p: weight_of(p) is not None)
            and weight_of(n) is not None]
    block_in = proj[0].input[0]
    # Descendants of the block input through data edges (not through Shape: a mask built from x's
    # shape belongs to the mask path).
    desc, stack = set(), [block_in]
    while stack:
        v = stack.pop()
        for c in consumers.get(v, []):
            if id(c) not in desc and c.op_type != "Shape":
                desc.add(id(c))
                stack.extend(c.output)
    out_proj, stack, seen = None, list(softmax.output), set()
    order = {id(n): i for i, n in enumerate(g.node)}
    cands = []
    while stack:
        v = stack.pop()
        for c in consumers.get(v, []):
            if id(c) in seen:
                continue
            seen.add(id(c))
            if weight_of(c) is not None:
                cands.append(c)
            else:
                stack.extend(c.output)
    out_proj = min(cands, key=lambda n: order[id(n)])
    last = out_proj
    nxt = [c for c in consumers.get(out_proj.output[0], []) if c.op_type == "Add"
           and any(i in consts for i in c.input)]
    if nxt:
        last = nxt[0]  # the output projection's bias
    upto = ancestors(last.output)
    before_in = ancestors([block_in])
    block = [n for n in g.node if id(n) in upto and id(n) in desc and n.op_type != "Constant"
             and not all(is_shape_vector(o) for o in n.output)]
    mask = [n for n in g.node if id(n) in upto and id(n) not in desc and id(n) not in before_in
            and n.op_type != "Constant" and not all(is_shape_vector(o) for o in n.output)
            and n is not producer.get(block_in) and n.output[0] not in consts]

    short = {block_in: "x"}
    for name in feeds:
        short[name] = name

    def arg(v):
        if v == "":
            return "-"
        if v in consts:
            a = consts[v]
            if a.dtype == np.bool_ and a.size > 8:
                return f"const bool{list(a.shape)} ({int(a.sum())} of {a.size} true)"
            if a.size <= 8:
                vals = a.reshape(-1).tolist()
                if a.dtype.kind == "f":
                    vals = [float(np.float32(x)) for x in vals]
                return f"const {a.dtype}{list(a.shape)} {vals if a.ndim else vals[0]}"
            return f"W {a.dtype}{list(a.shape)}"
        if v in short:
            return short[v]
        if is_shape_vector(v):
            a = np.atleast_1d(values[v])
            if a.dtype == np.bool_:
                return "<" + ",".join(str(bool(x)) for x in a) + ">"
            if a.size > 2 and (a == np.arange(a.size)).all():
                return f"<0..{sym(a.size)}-1>"
            return "<" + ",".join(sym(d) if d in (LIST_BATCH, seq) else str(int(d))
                                  for d in np.atleast_1d(values[v])) + ">"
        if v in values:  # made outside the listed nodes (position ids, say)
            return f"{v}:{values[v].dtype}{shape_text(values[v])}"
        return v

    def attrs(n):
        out = []
        for a in n.attribute:
            val = helper.get_attribute_value(a)
            if isinstance(val, bytes):
                val = val.decode()
            if isinstance(val, onnx.TensorProto):
                val = numpy_helper.to_array(val).tolist()
            if isinstance(val, float):
                val = float(np.float32(val))
            out.append(f"{a.name}={val}")
        return "(" + ", ".join(out) + ")" if out else ""

    def lines_for(nodes, prefix):
        out = []
        for n in nodes:
            for o in n.output:
                short.setdefault(o, f"{prefix}{len(short)}")
        for n in nodes:
            res = ", ".join(short[o] for o in n.output)
            a = values.get(n.output[0])
            typ = f"{a.dtype}{shape_text(a)}" if a is not None else "?"
            out.append(f"{res} = {n.op_type}{attrs(n)}({', '.join(arg(i) for i in n.input)})  : {typ}")
        return out

    x = values[block_in]
    lines = [f"block input x : {x.dtype}{shape_text(x)}  (made by {producer[block_in].op_type})"
             if block_in in producer else f"block input x = {block_in}"]
    if mask:
        lines.append("-- mask path (the nodes outside the block that feed it) --")
        lines += lines_for(mask, "m")
        in_block = {id(n) for n in block}
        for n in mask:
            for o in n.output:
                users = consumers.get(o, [])
                if any(id(c) in in_block for c in users):
                    where = "built once, shared by every layer" if any(
                        id(c) not in in_block and c.op_type != "Shape" for c in users) else "built per layer"
                    lines.append(f"   ({short[o]} feeds the block; {where})")
    else:
        lines.append("-- no mask path --")
    lines += ["-- block --"] + lines_for(block, "t")
    return lines


BEGIN, END = "<!-- BEGIN GENERATED by scripts/make_transformer_models.py -->", "<!-- END GENERATED -->"


def write_readme_section(readme, header, rows, listings, failures):
    """Replaces the generated part of the README (between BEGIN and END; appended when missing):
    the file table and every file's attention listing. The prose around it is written by hand."""
    text = ["## Files (generated)", "", header, "",
            "| file | exporter | opset | attention | bytes | max abs(ort - torch) | how |",
            "|---|---|---|---|---|---|---|"]
    text += [f"| {r['file']} | {r['exporter']} | {r['opset']} | {r['attn']} | {r['bytes']} | {r['diff']:.1e} "
             f"| {r['how']} |" for r in rows]
    if failures:
        text += ["", "Failed exports:", ""] + [f"- {f}" for f in failures]
    text += ["", "## Attention listings (generated)", "",
             "The first layer's attention block of each file, in graph order: `name = Op(attributes)(inputs)"
             "  : type[shape]`. x is the block input; W is a constant weight, `const` a small constant "
             "(dtype, shape, value); `<...>` is an integer vector computed at run time (a Reshape or Expand "
             f"target), shown by value. Shapes come from one onnxruntime run at batch {LIST_BATCH} (B) and "
             f"sequence {LIST_SEQ} (S; ViT: 17 tokens), with the last row half padded; shape-only nodes "
             "(Shape, Gather, Concat, ... making int64 vectors) are left out.", ""]
    for name, lines in listings:
        text += [f"### {name}", "", "```"] + lines + ["```", ""]
    section = BEGIN + "\n" + "\n".join(text).rstrip() + "\n" + END + "\n"
    old = readme.read_text() if readme.exists() else "# Tiny transformer test models\n\n"
    if BEGIN in old and END in old:
        new = old[:old.index(BEGIN)] + section + old[old.index(END) + len(END) + 1:]
    else:
        new = old.rstrip() + "\n\n" + section
    readme.write_text(new)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ",".join(MODELS))
    ap.add_argument("--out", default=str(OUT))
    ap.add_argument("--chains", action="store_true", help="print the attention listing of each file")
    ap.add_argument("--no-readme", action="store_true",
                    help="leave README.md's generated section alone (it is rewritten for a full run)")
    args = ap.parse_args()
    import onnx
    import onnxruntime
    import onnxscript
    import torch
    import transformers
    os.makedirs(args.out, exist_ok=True)
    header = (f"Made with torch {torch.__version__}, transformers {transformers.__version__}, onnx {onnx.__version__}, "
              f"onnxscript {onnxscript.__version__}, onnxruntime {onnxruntime.__version__} (the check), "
              f"Python {sys.version.split()[0]}.")
    print(header)
    warnings.filterwarnings("ignore")
    failures, rows, listings = [], [], []
    for kind in args.models.split(","):
        exporters = ("ts",) if kind == "bert_eager" else ("ts", "dynamo")
        for exporter in exporters:
            path = os.path.join(args.out, f"{kind}_{exporter}.onnx")
            try:
                module, how = export(kind, exporter, path)
            except Exception as e:  # noqa: BLE001 - report and go on with the next export
                failures.append(f"{kind}_{exporter}: {type(e).__name__}: {str(e)[:500]}")
                traceback.print_exc()
                continue
            if os.path.exists(path + ".data"):
                failures.append(f"{kind}_{exporter}: wrote external data")
            m = onnx.load(path)
            onnx.checker.check_model(m)
            opset = next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
            diff = check_against_torch(module, kind, path)
            row = dict(file=os.path.basename(path), exporter="TorchScript" if exporter == "ts" else "dynamo",
                       opset=opset, attn=attn_implementation(build(kind)), bytes=os.path.getsize(path),
                       diff=diff, how=how)
            rows.append(row)
            print(f"{row['file']}: {row['bytes']} bytes, opset {opset}, attention {row['attn']}, "
                  f"max |ort - torch| {diff:.2e}; {how}")
            lines = attention_listing(path, kind)
            listings.append((row["file"], lines))
            if args.chains:
                for line in lines:
                    print("    " + line)
    for f in failures:
        print("FAILED " + f)
    if not args.no_readme and args.models == ",".join(MODELS):
        write_readme_section(pathlib.Path(args.out) / "README.md", header, rows, listings, failures)
    return 0


if __name__ == "__main__":
    sys.exit(main())

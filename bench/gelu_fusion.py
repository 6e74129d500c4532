#!/usr/bin/env python3
"""What the GELU fusion pass (engine/passes/fuse_gelu.cc) saves on the CPU, outside CI.

The corpus BERT-base (tests/corpus/heavy_models/bert_base, dynamo export at opset 20) already has
Gelu nodes; a TorchScript export at opset 17 writes each as Div(x, 1.4142135) -> Erf -> Add(1) ->
Mul(x) -> Mul(0.5). This script rewrites the corpus model's Gelu nodes into that form (opset 17),
checks `onnxd run` against onnxruntime on it, and times `onnxd bench` with two binaries (one built
before the pass, one after) on that model and on the corpus GPT-2 (its tanh GELU is written out in
the dynamo export itself: Pow/Mul/Add/Mul/Tanh/Add/Mul/Mul). Writes bench/results/gelu_fusion.md.

    .venv/bin/python bench/gelu_fusion.py --before /tmp/onnxd_base --after build-gelu/onnxd
"""
import argparse
import os
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

import numpy as np
import onnx
from onnx import helper, numpy_helper

ROOT = pathlib.Path(__file__).resolve().parents[1]
HEAVY = ROOT / "tests" / "corpus" / "heavy_models"


def decompose_gelu(src, dst_dir):
    """The model at `src` with every Gelu written out as the TorchScript exporter's erf chain, saved
    as dst_dir/model.onnx beside a hard link to (or a copy of) the original external data (onnxd
    refuses a symbolic link that leads out of the model's directory)."""
    m = onnx.load(str(src), load_external_data=False)
    g = m.graph
    nodes = []
    consts = {"gelu_sqrt2": np.float32(np.sqrt(2.0)), "gelu_one": np.float32(1.0), "gelu_half": np.float32(0.5)}
    for name, v in consts.items():
        g.initializer.append(numpy_helper.from_array(np.array(v, np.float32), name))
    n_gelu = 0
    for n in g.node:
        if n.op_type != "Gelu":
            nodes.append(n)
            continue
        x, y, p = n.input[0], n.output[0], f"gelu{n_gelu}_"
        n_gelu += 1
        nodes += [helper.make_node("Div", [x, "gelu_sqrt2"], [p + "div"]),
                  helper.make_node("Erf", [p + "div"], [p + "erf"]),
                  helper.make_node("Add", [p + "erf", "gelu_one"], [p + "add"]),
                  helper.make_node("Mul", [x, p + "add"], [p + "mul"]),
                  helper.make_node("Mul", [p + "mul", "gelu_half"], [y])]
    del g.node[:]
    g.node.extend(nodes)
    for o in m.opset_import:
        if o.domain in ("", "ai.onnx"):
            o.version = 17
    dst_dir = pathlib.Path(dst_dir)
    dst_dir.mkdir(parents=True, exist_ok=True)
    for f in src.parent.iterdir():
        if f.suffix == ".data" and not (dst_dir / f.name).exists():
            try:
                os.link(f, dst_dir / f.name)
            except OSError:
                shutil.copyfile(f, dst_dir / f.name)
    onnx.save(m, str(dst_dir / "model.onnx"))
    return dst_dir / "model.onnx", n_gelu


GELU_OPS = ("Add", "Mul", "Div", "Pow", "Erf", "Tanh", "Gelu")


def bench(binary, model, threads, iterations, shape):
    """(median ms a run, ms a run in the ops a GELU chain uses from the profile, {op: (nodes, ms)}, text)."""
    out = subprocess.run([str(binary), "bench", str(model), "--threads", str(threads), "--iterations",
                          str(iterations), "--warmup", "3", "--profile",
                          "--shape", f"input_ids={shape}", "--shape", f"attention_mask={shape}"],
                         capture_output=True, text=True, timeout=1800, check=True).stdout
    median = float(re.search(r"median ([0-9.]+)", out).group(1))
    ops = {}
    for line in out[out.find("profile ("):out.find("slowest nodes")].splitlines()[2:]:
        f = line.split()
        if len(f) == 4:
            ops[f[0]] = (int(f[1]), float(f[2]))
    return median, sum(ms for op, (_, ms) in ops.items() if op in GELU_OPS), ops, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", required=True)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--iterations", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3, help="before/after pairs, interleaved")
    ap.add_argument("--shape", default="1x128", help="input_ids and attention_mask dims (batch x tokens)")
    args = ap.parse_args()

    tmp = pathlib.Path(tempfile.mkdtemp(prefix="onnxd_gelu_"))
    bert_erf, n = decompose_gelu(HEAVY / "bert_base" / "model.onnx", tmp / "bert_erf")
    print(f"bert_base: {n} Gelu nodes written out as Div/Erf/Add/Mul/Mul at opset 17 -> {bert_erf}")

    sys.path.insert(0, str(ROOT / "tests" / "corpus"))
    os.environ["ONNXD"] = str(pathlib.Path(args.after).resolve())
    import corpus_check  # noqa: E402
    corpus_check.ONNXD = pathlib.Path(args.after).resolve()
    feeds = {}
    m = onnx.load(str(bert_erf), load_external_data=False)
    for i, inp in enumerate(m.graph.input):
        t = onnx.TensorProto()
        t.ParseFromString((HEAVY / "bert_base" / "run" / f"input_{i}.pb").read_bytes())
        feeds[inp.name] = numpy_helper.to_array(t)
    outs = corpus_check.run_onnxd(bert_erf, feeds, tmp / "out")
    refs = corpus_check.run_ort(bert_erf, feeds)
    max_abs, max_rel, problems = corpus_check.compare(bert_erf, outs, refs)
    print(f"bert_erf vs onnxruntime: max abs {max_abs:.3g}, max rel {max_rel:.3g}, problems {problems}")

    rows = []
    for label, model in (("BERT-base, erf GELU written out (opset 17)", bert_erf),
                         ("GPT-2, tanh GELU written out (corpus dynamo export)", HEAVY / "gpt2" / "model.onnx")):
        runs = {"before": [], "after": []}
        for _ in range(args.rounds):
            for tag in ("before", "after"):
                runs[tag].append(bench(getattr(args, tag), model, args.threads, args.iterations, args.shape))
        for tag in ("before", "after"):
            best = min(runs[tag], key=lambda r: r[0])
            counts = ", ".join(f"{op} {best[2][op][0]}" for op in GELU_OPS if op in best[2])
            print(f"{label} {tag}: medians {[round(r[0], 1) for r in runs[tag]]}, GELU-chain op ms "
                  f"{[round(r[1], 2) for r in runs[tag]]} ({counts})")
        rows.append((label, min(r[0] for r in runs["before"]), min(r[0] for r in runs["after"]),
                     min(r[1] for r in runs["before"]), min(r[1] for r in runs["after"]),
                     sum(n for op, (n, _) in runs["before"][0][2].items()),
                     sum(n for op, (n, _) in runs["after"][0][2].items())))

    lines = ["# GELU fusion on the CPU (bench/gelu_fusion.py)", "",
             f"`onnxd bench MODEL --threads {args.threads} --iterations {args.iterations} --profile --shape "
             f"input_ids={args.shape} --shape attention_mask={args.shape}`; best of {args.rounds} interleaved "
             "rounds; before = a build without engine/passes/fuse_gelu.cc. 'elementwise ms' is the profile's "
             "time a run in Add, Mul, Div, Pow, Erf, Tanh and Gelu (the ops a GELU chain uses; the model's "
             "other Adds and Muls are in both columns). The machine was shared (2 cores, other builds), so the "
             "whole-run medians are noisy; the per-op profile is the steadier figure.", "",
             "| model | nodes before -> after | median ms before | after | elementwise ms before | after |",
             "|---|---|---:|---:|---:|---:|"]
    for label, b, a, eb, ea, nb, na in rows:
        lines.append(f"| {label} | {nb} -> {na} | {b:.1f} | {a:.1f} | {eb:.2f} | {ea:.2f} |")
    lines += ["", f"BERT erf form vs onnxruntime (after): max abs {max_abs:.3g}, max rel {max_rel:.3g}, "
              f"problems: {problems or 'none'}."]
    (ROOT / "bench" / "results" / "gelu_fusion.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

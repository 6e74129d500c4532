"""A model using ops the engine lacks fails to load naming every such op with its domain (issue 7,
point 5): in `onnxd inspect`, in `onnxd run`, in the model's UNAVAILABLE reason (repository index)
and in the daemon's log; the other models of the repository still serve."""
import json
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import onnx
from onnx import TensorProto, helper

from daemon_util import ONNXD, ROOT, Daemon

# op -> (domain as reported, node name or the output an unnamed node makes)
MISSING = {"ai.onnx:FrobnicateOp": "node 'frob'", "com.example:Widget": "node 'widget'",
           "ai.onnx:InnerMissingOp": "output 't'"}


def make_unsupported_model(path):
    """Relu (supported), FrobnicateOp (ai.onnx), Widget (com.example) and an If whose then-branch
    uses an unnamed InnerMissingOp node: three missing ops in two domains, one inside a subgraph."""
    f = TensorProto.FLOAT
    then = helper.make_graph([helper.make_node("InnerMissingOp", ["x"], ["t"])], "then", [],
                             [helper.make_tensor_value_info("t", f, [2])])
    other = helper.make_graph([helper.make_node("Identity", ["x"], ["e"])], "else", [],
                              [helper.make_tensor_value_info("e", f, [2])])
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"),
             helper.make_node("FrobnicateOp", ["r"], ["fr"], name="frob"),
             helper.make_node("Widget", ["fr"], ["w"], domain="com.example", name="widget"),
             helper.make_node("If", ["c"], ["y"], then_branch=then, else_branch=other, name="branch")]
    g = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", f, [2]),
                                       helper.make_tensor_value_info("c", TensorProto.BOOL, [])],
                          [helper.make_tensor_value_info("y", f, [2]), helper.make_tensor_value_info("w", f, [2])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    m.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(m, str(path))


def _names_every_op(text):
    return all(op in text for op in MISSING) and all(where in text for where in MISSING.values())


def test_inspect_and_run_name_every_missing_op_and_domain(tmp_path):
    model = tmp_path / "m.onnx"
    make_unsupported_model(model)
    out = subprocess.run([str(ONNXD), "inspect", str(model)], capture_output=True, text=True, timeout=60).stdout
    line = next(l for l in out.splitlines() if l.startswith("unsupported ops:"))
    assert sorted(line.split()[2:]) == sorted(MISSING), line
    assert "ai.onnx:Relu" not in line and "If" not in line

    proc = subprocess.run([str(ONNXD), "run", str(model), "--input", "x=nothing.npy"], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode != 0
    assert "UNIMPLEMENTED" in proc.stderr and _names_every_op(proc.stderr), proc.stderr


def test_daemon_reports_missing_ops_in_reason_and_log(tmp_path):
    repo = tmp_path / "repo"
    make_unsupported_model(repo / "unsupported" / "1" / "model.onnx")
    (repo / "simple").mkdir(parents=True)
    for item in (ROOT / "models" / "simple").iterdir():
        target = repo / "simple" / item.name
        if item.is_dir():
            shutil.copytree(item, target)
        else:
            target.write_bytes(item.read_bytes())
    d = Daemon(repo)
    try:
        req = urllib.request.Request(f"http://{d.http_url}/v2/repository/index", method="POST", data=b"{}")
        with urllib.request.urlopen(req, timeout=30) as r:
            index = {m["name"]: m for m in json.loads(r.read())}
        assert index["simple"]["state"] == "READY"
        bad = index["unsupported"]
        assert bad["state"] == "UNAVAILABLE"
        assert _names_every_op(bad["reason"]), bad["reason"]
        try:
            urllib.request.urlopen(f"http://{d.http_url}/v2/models/unsupported/ready", timeout=30)
            ready = True
        except urllib.error.HTTPError:
            ready = False
        assert not ready
        deadline = time.time() + 10      # stderr is read by a thread: give it a moment
        while True:
            log = "".join(d.stderr_lines)
            failed = [l for l in log.splitlines() if "'unsupported'" in l and "failed to load" in l]
            if failed or time.time() > deadline:
                break
            time.sleep(0.1)
        assert failed and _names_every_op(failed[0]), log[-3000:]
    finally:
        assert d.stop() == 0

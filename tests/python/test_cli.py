"""`onnxd run`, `inspect` and `bench` behave as documented, including on bad input."""
import numpy as np

from onnxd_cli import run_onnxd


def test_inspect_lists_io_and_finds_no_unsupported_ops(tutorial):
    out = run_onnxd("inspect", tutorial / "sklearn-rf-iris" / "model.onnx").stdout
    assert "float_input: tensor(float)[?,4]" in out
    assert "output_probability: seq(map(int64,tensor(float)))" in out
    assert "ai.onnx.ml:TreeEnsembleClassifier x1" in out
    assert "unsupported ops: none" in out
    out = run_onnxd("inspect", tutorial / "mnist-zoo-opset7" / "model.onnx").stdout
    assert "Conv x2" in out and "parameters: 5998" in out and "unsupported ops: none" in out


def test_run_with_input_dir_prints_outputs(tutorial):
    d = tutorial / "mnist-zoo-opset7"
    out = run_onnxd("run", d / "model.onnx", "--input-dir", d / "test_data_set_0").stdout
    assert out.startswith("Plus214_Output_0: tensor(float)[1,10]")


def test_run_reports_bad_model_and_bad_input(tmp_path, tutorial):
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x08\x07garbage that is not a model")
    proc = run_onnxd("run", bad, "--input", "x=y.npy", check=False)
    assert proc.returncode != 0 and "not a valid ONNX model" in proc.stderr

    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((1, 1, 27, 28), dtype=np.float32))
    proc = run_onnxd("run", tutorial / "mnist-zoo-opset7" / "model.onnx", "--input", f"Input3={wrong}", check=False)
    assert proc.returncode != 0
    assert "input 'Input3' dim 2" in proc.stderr

    proc = run_onnxd("run", tutorial / "mnist-zoo-opset7" / "model.onnx", "--input", f"nope={wrong}", check=False)
    assert proc.returncode != 0 and "no input named 'nope'" in proc.stderr


def test_bench_prints_latency_percentiles(tutorial):
    out = run_onnxd("bench", tutorial / "mnist-zoo-opset7" / "model.onnx", "--iterations", "20",
                    "--threads", "1").stdout
    assert "latency ms: median" in out and "p99" in out and "throughput:" in out


def test_bench_profile_lists_op_types_and_nodes(tutorial):
    out = run_onnxd("bench", tutorial / "mnist-zoo-opset7" / "model.onnx", "--iterations", "5",
                    "--threads", "1", "--profile").stdout
    assert "profile (5 runs" in out and "slowest nodes:" in out
    shares = [float(line.split()[-1].rstrip("%")) for line in out.split("op type")[1].split("slowest nodes:")[0]
              .strip().splitlines()[1:]]
    assert any(line.split()[0] == "Conv" for line in out.splitlines() if line.startswith("  Conv"))
    assert abs(sum(shares) - 100.0) < 1.0, shares

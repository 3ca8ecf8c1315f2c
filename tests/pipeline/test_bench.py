"""Pipeline: the benchmark script runs end to end on tiny data and writes its JSON and Markdown."""

import json
import subprocess
import sys

from classifier import paths
from tests.support.project import STAGES
from tools.profiles import PROFILES


def test_benchmark_runs_on_tiny_data(tmp_path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.run",
            "--quick",
            "--repeats",
            "1",
            "--seeds",
            "7",
            "8",
            "--profiles",
            "accurate",
            "--out",
            str(tmp_path),
        ],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    figures = json.loads((tmp_path / "results.json").read_text())
    assert figures["quick"] is True
    assert set(figures["stages"]) == set(STAGES)
    for name, stage in figures["stages"].items():
        assert stage["wall_s"] > 0 and stage["peak_mb"] > 10 and stage["startup_s"] > 0, name
    assert figures["reference"]["epochs"] == 1 and 0 <= figures["reference"]["test_accuracy"] <= 1
    assert figures["train_time_ratio"] > 0 and figures["process_cpu_ratio"] > 0 and figures["noop_repro_s"] > 0
    project = figures["project"]
    assert [run["seed"] for run in project["seeds"]] == [7, 8]
    accuracy = project["test_accuracy"]
    assert accuracy["min"] <= accuracy["median"] <= accuracy["max"]
    assert figures["environment"]["cores"] >= 1 and figures["environment"]["cpu"] in figures["machine"]
    assert project["forward_mflop"] > 0
    served = figures["inference"]["runtimes"]["ONNX Runtime as shipped (classifier.inference)"]
    assert served["images_per_s"] > 0 and 0 < served["latency_ms_median"] <= served["latency_ms_p99"]
    assert served["max_abs_diff"] <= 1e-5 and served["same_class"] == figures["inference"]["test_images"]
    inference = figures["inference"]
    assert inference["predict_one_wall_s"] > 0 and inference["predict_300_peak_mb"] > 10
    assert inference["streamed_npy"]["rows"] == inference["streamed_npy"]["images"] == inference["streamed_npz"]["rows"]
    assert "over the 0.02 GB limit" in inference["bomb"]["error"]
    assert list(figures["variants"]) == ["default", "accurate"]
    accurate = figures["variants"]["accurate"]
    assert accurate["overrides"] == PROFILES["accurate"]
    assert accurate["forward_mflop"] == project["forward_mflop"] and accurate["images_per_s"] > 0
    epochs = PROFILES["accurate"]["train.epochs"]
    assert all(run["epochs_run"] == epochs and 0 <= run["val_accuracy"] <= 1 for run in accurate["seeds"])
    assert (tmp_path / "frontier.png").read_bytes().startswith(b"\x89PNG")
    table = (tmp_path / "results.md").read_text()
    assert "| accurate profile | 2 |" in table and "| Keras mnist_convnet reference | 1 |" in table
    assert "- accurate: >= 99.70% within 4x the reference's time; got" in table
    assert "- best within 1x: " in table and "- best within 10x: " in table
    assert "| train time ratio (project / reference) |" in table and "| evaluate |" in table
    assert "| ONNX Runtime as shipped (classifier.inference) |" in table and "The zip bomb" in table
    assert "| test accuracy: median (min-max) |" in table and table.count("\n| 7 |") + table.count("\n| 8 |") == 4

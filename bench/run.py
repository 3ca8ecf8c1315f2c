"""Benchmark every stage, and this project's training against the Keras reference, in one run.

Usage: python -m bench.run [--repeats 3] [--seeds 42 1 2] [--profiles fast accurate ensemble] [--out DIR] [--quick]

Works in a temporary copy of the project (the workspace is left alone) on the real MNIST from $MNIST_MIRROR
(default ../shared/data/mnist) with the default params.yaml, and measures:
  - fetch (from the local mirror), preprocess, train, evaluate: wall time and peak memory, each stage in its
    own process; fetch, preprocess and evaluate are run --repeats times and their medians reported;
  - train and evaluate once per --seeds (train.seed) the default params and each of --profiles: the training
    profiles of tools/profiles.py (fast, accurate, ensemble; all by default), and `bf16`, the default with
    train.precision mixed_bfloat16 (only where the CPU has AMX or AVX512-BF16): test accuracy, best epoch and
    training time of each seed, and their median, min and max, because the seed alone moves the test accuracy
    by about 0.05 pp; and each one's inference cost (forward MFLOP, ONNX Runtime's images/s);
  - the frontier (bench/frontier.py): each of those and the reference as a point, test accuracy against
    training time, in a table with the targets and in OUT/frontier.png;
  - the start-up cost of each stage's process (its imports), median of --repeats;
  - a no-op `dvc repro`, median of --repeats;
  - the reference (bench/reference.py), right after train, on the same data and machine, and the ratio of
    the median training wall time to the reference's; beside it, the CPU time of each whole process and
    their ratio (steadier on a machine whose cores come and go; the reference's process also scores the
    test set);
  - training images per second and achieved GFLOP/s (from counted FLOPs) against a large matmul's GFLOP/s;
  - inference with models/model.onnx in ONNX Runtime, the path the tools use: images per second in
    batches of 1000, single-image latency (median, p99), and its agreement with Keras's predict().
Writes OUT/results.json, OUT/results.md and OUT/frontier.png, naming the CPU (model and instruction sets): the
same params give other figures on another CPU. A full run (the default seeds, profiles and repeats) takes about
80 minutes on 2 cores and writes to bench/; a subset, for daily use, writes to .cache/bench/ unless --out says
otherwise, so that bench/ keeps the figures of a full run. --quick runs tiny synthetic data (the default for 1
epoch, each profile for its own): it checks that the benchmark works (the test suite uses it); its figures mean
nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
from datetime import date
from pathlib import Path

import numpy as np
import yaml

from bench import frontier, inference
from bench.process import measure, median_of
from classifier import environment, files, paths
from classifier.params.overrides import edit_file
from tests.support import synthetic
from tools import profiles


def make_copy(root: Path, quick: bool) -> dict:
    """A project copy under `root` (on tiny synthetic data when `quick`); returns the environment that runs
    stages in it."""
    names = ("classifier", "stages", "tools", "bench", "params.yaml", "dvc.yaml")
    if quick:
        mirror = root / "mirror"
        synthetic.copy_project(root, mirror, names)
        edit_file(root / "params.yaml", {"train.epochs": 1})
    else:
        synthetic.copy_files(root, names)
        mirror = Path(os.environ.get("MNIST_MIRROR") or paths.ROOT.parent / "shared" / "data" / "mnist")
    env = {
        **os.environ,
        "MNIST_MIRROR": str(mirror.resolve()),
        "DVC_NO_ANALYTICS": "1",
        "PYTHONPATH": str(root),
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    }
    return env


def stage(name: str) -> list[str]:
    """The stage's command as dvc.yaml gives it (`exec python -m stages.NAME ...`), run with this Python."""
    words = yaml.safe_load((paths.ROOT / "dvc.yaml").read_text())["stages"][name]["cmd"].split()
    return [sys.executable, *words[words.index("python") + 1 :]]


BF16 = "bf16"  # the default params in mixed_bfloat16
TRAINING_PROFILES = [
    name for name, overrides in profiles.PROFILES.items() if all(key.startswith("train.") for key in overrides)
]  # not those of another dataset
FULL_SEEDS = [42, 1, 2]


def variants(isa: list[str], chosen: list[str]) -> dict[str, dict[str, object]]:
    """What is trained with every seed: the default params, and each `chosen` profile of tools/profiles.py, and
    the default in mixed_bfloat16 if chosen and this CPU does bfloat16 arithmetic itself (AMX or AVX512-BF16;
    elsewhere it is emulated, slower than float32)."""
    trained: dict[str, dict[str, object]] = {"default": {}}
    if BF16 in chosen and inference.bf16_native(isa):
        trained[BF16] = {"train.precision": "mixed_bfloat16"}
    trained.update({name: profiles.PROFILES[name] for name in TRAINING_PROFILES if name in chosen})
    return trained


def label(name: str) -> str:
    return {"default": "default", BF16: "default, mixed_bfloat16"}.get(name, f"{name} profile")


def set_overrides(path: Path, base: str, overrides: dict[str, object]) -> None:
    """params.yaml as `base` with the dotted `overrides` (section.key...=value) applied."""
    path.write_text(base)
    edit_file(path, overrides)


def train_seeds(root: Path, env: dict, seeds: list[int]) -> tuple[list[dict], list[dict]]:
    """Train and evaluate once per seed: each seed's figures, and each train process's measurements."""
    figures, processes = [], []
    for seed in seeds:
        edit_file(root / "params.yaml", {"train.seed": seed})
        processes.append(measure(stage("train"), root, env))
        measure(stage("export"), root, env)
        measure(stage("evaluate"), root, env)
        training = json.loads((root / paths.TRAIN_METRICS_PATH.relative_to(paths.ROOT)).read_text())
        evaluation = json.loads((root / paths.EVAL_METRICS_PATH.relative_to(paths.ROOT)).read_text())
        members = training.get("members", {"1": training})  # an ensemble's, or the single model's
        figures.append(
            {
                "seed": seed,
                "test_accuracy": evaluation["accuracy"],
                "misclassified": evaluation["misclassified"],
                "best_epochs": [member["best_epoch"] for member in members.values()],
                "val_accuracy": round(
                    training.get("ensemble_val_accuracy", training.get("best_epoch_val_accuracy")), 6
                ),
                "epochs_run": training["epochs_run"],
                "train_time_s": training["train_time_s"],
                "process_cpu_s": processes[-1]["cpu_s"],
            }
        )
    return figures, processes


def train_variants(root: Path, env: dict, seeds: list[int], chosen: list[str], repeats: int) -> dict[str, dict]:
    """Each variant trained with every seed, and the inference cost of its last model; the default is trained
    last, so that its model is the one whose inference is measured in full."""
    params_path = root / "params.yaml"
    base = params_path.read_text()
    trained = variants(environment.describe()["isa"], chosen)
    results = {}
    for name in sorted(trained, key=lambda name: name == "default"):
        set_overrides(params_path, base, trained[name])
        seed_runs, processes = train_seeds(root, env, seeds)
        results[name] = {
            "label": label(name),
            "overrides": trained[name],
            "seeds": seed_runs,
            "process": median_of(processes),
            **serving_cost(root, repeats),
        }
    params_path.write_text(base)
    return results


def serving_cost(root: Path, repeats: int) -> dict:
    """The inference cost of the model in `root`: forward MFLOP per image, and ONNX Runtime's images/s (the
    served path) on the test images in batches."""
    from bench.flops import forward_flops
    from classifier import inference as served

    model, images, reference = inference.keras_and_test_set(root)
    figures = inference.runtime_figures(served.Classifier(root / "models" / "model.onnx"), images, reference, repeats)
    return {"forward_mflop": round(forward_flops(model) / 1e6, 2), "images_per_s": figures["images_per_s"]}


def spread(values: list[float]) -> dict:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def run_stages(root: Path, env: dict, repeats: int, seeds: list[int], chosen: list[str], quick: bool) -> dict:
    results = {}
    outputs = {"fetch": paths.RAW_DIR, "preprocess": paths.PROCESSED_DIR}
    for name in ("params", *outputs):
        runs = []
        for _ in range(repeats):
            if name in outputs:
                shutil.rmtree(root / outputs[name].relative_to(paths.ROOT), ignore_errors=True)
            runs.append(measure(stage(name), root, env))
        results[name] = median_of(runs)
    trained = train_variants(root, env, seeds, chosen, repeats)
    results["train"] = trained["default"]["process"]
    reference = measure(
        [sys.executable, "-m", "bench.reference", "--root", str(root), "--epochs", "1" if quick else "15"], root, env
    )
    results["export"] = median_of([measure(stage("export"), root, env) for _ in range(repeats)])
    results["evaluate"] = median_of([measure(stage("evaluate"), root, env) for _ in range(repeats)])
    for name in results:
        results[name].pop("stdout", None)
        results[name]["startup_s"] = round(
            statistics.median(
                measure([sys.executable, "-c", f"import stages.{name}"], root, env)["wall_s"] for _ in range(repeats)
            ),
            2,
        )
    return {
        "stages": results,
        "variants": trained,
        "reference": {
            **json.loads(reference["stdout"].strip().splitlines()[-1]),
            "peak_mb": reference["peak_mb"],
            "process_cpu_s": reference["cpu_s"],
        },
    }


def noop_repro(root: Path, env: dict, repeats: int) -> float:
    dvc = [sys.executable, "-m", "dvc"]
    for args in (["init", "--no-scm", "-q"], ["commit", "-f", "-q"]):
        measure(dvc + args, root, env)
    times = []
    for _ in range(repeats):
        run = measure(dvc + ["repro"], root, env)
        if "up to date" not in run["stdout"]:
            raise SystemExit(f"`dvc repro` was not a no-op:\n{run['stdout']}")
        times.append(run["wall_s"])
    return round(statistics.median(times), 2)


def variant_summary(variant: dict, reference: dict) -> dict:
    """A variant's seeds, the median, min and max of their test accuracy, and median times against the reference."""
    seeds = variant["seeds"]
    train_time_s = statistics.median(run["train_time_s"] for run in seeds)
    process_cpu_s = statistics.median(run["process_cpu_s"] for run in seeds)
    return {
        "label": variant["label"],
        "overrides": variant["overrides"],
        "forward_mflop": variant["forward_mflop"],
        "images_per_s": variant["images_per_s"],
        "test_accuracy": spread([run["test_accuracy"] for run in seeds]),
        "train_time_s": train_time_s,
        "process_cpu_s": process_cpu_s,
        "train_time_ratio": round(train_time_s / reference["train_time_s"], 3),
        "process_cpu_ratio": round(process_cpu_s / reference["process_cpu_s"], 3),
        "seeds": seeds,
    }


def summarise(root: Path, timings: dict, noop_s: float, model: dict, quick: bool) -> dict:
    with np.load(root / "data" / "processed" / "train.npz") as data:
        train_images = len(data["y"])
    reference = timings["reference"]
    trained = timings["variants"]
    variants = {
        name: variant_summary(trained[name], reference) for name in sorted(trained, key=lambda n: n != "default")
    }
    default = variants["default"]
    images_per_s = statistics.median(train_images * run["epochs_run"] / run["train_time_s"] for run in default["seeds"])
    reference_images_per_s = reference["train_images"] * reference["epochs"] / reference["train_time_s"]
    env = environment.describe()
    return {
        "date": date.today().isoformat(),
        "quick": quick,
        "machine": f"{environment.summary(env)}, Python {env['python']}",
        "environment": env,
        "bf16_native": inference.bf16_native(env["isa"]),
        "project": {
            **default,
            "train_images_per_s": round(images_per_s),
            "achieved_gflops": round(3 * model["forward_mflop"] * images_per_s / 1000, 1),
            "forward_mflop": model["forward_mflop"],
            "matmul_gflops": model["matmul_gflops"],
        },
        "inference": model,
        "variants": variants,
        "reference": {
            **reference,
            "train_images_per_s": round(reference_images_per_s),
            "achieved_gflops": round(3 * reference["forward_mflop"] * reference_images_per_s / 1000, 1),
        },
        "train_time_ratio": default["train_time_ratio"],
        "process_cpu_ratio": default["process_cpu_ratio"],
        "stages": timings["stages"],
        "noop_repro_s": noop_s,
    }


def markdown(r: dict) -> str:
    p, ref = r["project"], r["reference"]
    acc, n = p["test_accuracy"], len(p["seeds"])
    lines = [
        f"Benchmark of {r['date']} on {r['machine']}"
        + (" (quick: tiny data, figures meaningless)." if r["quick"] else "."),
        "",
        f"| | this project (default params, {n} seeds) | Keras mnist_convnet reference |",
        "|---|---:|---:|",
        f"| test accuracy: median (min-max) | {acc['median']:.2%} ({acc['min']:.2%}-{acc['max']:.2%}) "
        f"| {ref['test_accuracy']:.2%} |",
        f"| training wall time (median) | {p['train_time_s']:.0f} s "
        f"| {ref['train_time_s']:.0f} s ({ref['epochs']} epochs) |",
        f"| train time ratio (project / reference) | {r['train_time_ratio']:.2f} | 1.00 |",
        f"| CPU time of the whole process (median) | {p['process_cpu_s']:.0f} s | {ref['process_cpu_s']:.0f} s |",
        f"| CPU time ratio (project / reference) | {r['process_cpu_ratio']:.2f} | 1.00 |",
        f"| training images per second | {p['train_images_per_s']} | {ref['train_images_per_s']} |",
        f"| forward MFLOP per image | {p['forward_mflop']} | {ref['forward_mflop']} |",
        f"| achieved GFLOP/s in training (large matmul: {p['matmul_gflops']}) "
        f"| {p['achieved_gflops']} | {ref['achieved_gflops']} |",
        "",
        f"bfloat16 arithmetic in hardware (AMX or AVX512-BF16): {'yes' if r['bf16_native'] else 'no'}.",
        "",
        "The frontier: each point is a set of params anyone reruns (`make bench PROFILES=...`), trained with each "
        "seed; the plot is frontier.png.",
        "",
        frontier.markdown(r["variants"], ref),
    ]
    for v in r["variants"].values():
        overrides = " ".join(f"`{key}={profiles.shown(value)}`" for key, value in v["overrides"].items()) or "none"
        lines += [
            "",
            f"Seeds of the {v['label']} (overrides: {overrides}):",
            "",
            "| seed | test accuracy | wrong | best epoch of each model | validation accuracy | training time |",
            "|---:|---:|---:|---|---:|---:|",
        ]
        for run in v["seeds"]:
            lines.append(
                f"| {run['seed']} | {run['test_accuracy']:.2%} | {run['misclassified']} "
                f"| {', '.join(map(str, run['best_epochs']))} (of {run['epochs_run']} epochs in all) "
                f"| {run['val_accuracy']:.2%} | {run['train_time_s']:.1f} s |"
            )
    lines += [
        "",
        "| stage | wall time (s) | process start-up (s) | peak memory (MB) | runs |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in r["stages"]:
        s = r["stages"][name]
        lines.append(f"| {name} | {s['wall_s']} | {s['startup_s']} | {s['peak_mb']:.0f} | {s['runs']} |")
    lines += [
        "",
        f"No-op `dvc repro`: {r['noop_repro_s']} s.",
        "",
        inference.markdown({**r["inference"], "date": r["date"], "machine": r["machine"]}),
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each short stage (default: 3)")
    parser.add_argument("--out", type=Path, help="default: bench/ for a full run, .cache/bench/ for a subset")
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=FULL_SEEDS,
        help=f"train.seed values to train each variant with (default: {' '.join(map(str, FULL_SEEDS))})",
    )
    parser.add_argument(
        "--profiles",
        nargs="*",
        choices=[*TRAINING_PROFILES, BF16],
        default=TRAINING_PROFILES,
        help=f"trained besides the default (default: {' '.join(TRAINING_PROFILES)}; {BF16}: the default in "
        "mixed_bfloat16, where the CPU has it)",
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    full = (
        not args.quick
        and args.repeats == 3
        and sorted(args.seeds) == sorted(FULL_SEEDS)
        and set(TRAINING_PROFILES) <= set(args.profiles)
    )
    out = args.out or paths.ROOT / ("bench" if full else ".cache/bench")
    with tempfile.TemporaryDirectory(prefix="mnist-bench-") as tmp:
        root = Path(tmp)
        env = make_copy(root, args.quick)
        timings = run_stages(root, env, args.repeats, args.seeds, args.profiles, args.quick)
        noop_s = noop_repro(root, env, args.repeats)
        results = summarise(
            root, timings, noop_s, inference.model_figures(root, args.repeats, 0.01 if args.quick else 1.0), args.quick
        )
    files.write_json(out / "results.json", results)
    files.write_text(out / "results.md", markdown(results))
    frontier.plot(results["variants"], results["reference"], results["machine"], out / "frontier.png")
    print(markdown(results))
    print(f"wrote {out}/results.md, results.json and frontier.png")


if __name__ == "__main__":
    main()

"""App: predict and serve in a fresh virtual environment with only requirements-serve.txt installed (ONNX Runtime,
NumPy, Pillow, Flask, waitress): no TensorFlow, no DVC, as on a machine that only serves the model."""

import subprocess
import venv

import pytest
import requests

from classifier import paths
from tests.support.drawn import a_seven, png_bytes


@pytest.fixture(scope="module")
def slim_python(tmp_path_factory):
    folder = tmp_path_factory.mktemp("slim-venv")
    venv.create(folder, with_pip=True)
    python = folder / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "-r", str(paths.ROOT / "requirements-serve.txt")],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if install.returncode != 0 and "No matching distribution" in install.stderr + install.stdout:
        pytest.skip(f"needs the package index (network or a local mirror): {install.stderr.strip()[-300:]}")
    assert install.returncode == 0, install.stderr
    return python


def test_the_slim_environment_has_no_tensorflow_keras_or_dvc(slim_python):
    script = "import importlib.util as u; print([m for m in ('tensorflow', 'keras', 'dvc') if u.find_spec(m)])"
    result = subprocess.run([str(slim_python), "-c", script], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stdout + result.stderr


def test_predict_runs_in_the_slim_environment(slim_python, tiny_onnx_path, tmp_path):
    image = tmp_path / "seven.png"
    image.write_bytes(png_bytes(a_seven()))
    result = subprocess.run(
        [str(slim_python), "-m", "tools.predict", str(image), "--model", str(tiny_onnx_path), "--json"],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert '"file": ' in result.stdout and '"probabilities"' in result.stdout


def test_serve_answers_in_the_slim_environment(slim_python, tiny_onnx_path):
    process = subprocess.Popen(
        [str(slim_python), "-m", "tools.serve", "--port", "0", "--model", str(tiny_onnx_path)],
        cwd=paths.ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("serving on http://127.0.0.1:"), line + process.stderr.read()
        url = line.split()[2].rstrip("/")
        files = {"image": ("seven.png", png_bytes(a_seven()), "image/png")}
        answer = requests.post(f"{url}/api/predict", files=files, timeout=30)
        assert answer.status_code == 200 and len(answer.json()["probabilities"]) == 10
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_slim_requirements_pin_the_versions_of_the_full_ones():
    def pins(name: str) -> dict[str, str]:
        lines = (paths.ROOT / name).read_text().splitlines()
        return dict(line.split("==") for line in lines if "==" in line and not line.startswith("#"))

    slim, full = pins("requirements-serve.txt"), pins("requirements.txt")
    assert {name: full.get(name) for name in slim} == slim

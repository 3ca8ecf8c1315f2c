"""Units: the predict command's outputs and its handling of bad inputs, with a small untrained model."""

import csv
import io
import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from classifier import paths, transform
from tests.support.drawn import a_seven
from tests.support.inputs import array_images
from tests.support.models import onnx_file
from tools import predict


@pytest.fixture
def inputs(tmp_path):
    folder = tmp_path / "digits"
    folder.mkdir()
    for i in range(3):
        image = np.full((64, 48), 255, np.uint8)
        image[10 + i : 50, 20:28] = 0
        Image.fromarray(image).save(folder / f"d{i}.png")
    np.save(tmp_path / "stack.npy", np.random.default_rng(0).integers(0, 255, (2, 28, 28)).astype(np.uint8))
    return folder, tmp_path / "stack.npy"


def run(capsys, *args):
    code = predict.main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def test_table_lists_each_input_with_class_confidence_and_next_guesses(capsys, inputs, tiny_onnx_path):
    folder, stack = inputs
    code, out, err = run(capsys, folder, stack, "--model", tiny_onnx_path)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0].split() == ["file", "class", "confidence", "next", "guesses"]
    assert [line.split()[0] for line in lines[1:]] == [
        str(folder / "d0.png"),
        str(folder / "d1.png"),
        str(folder / "d2.png"),
        f"{stack}[0]",
        f"{stack}[1]",
    ]
    assert all("%" in line for line in lines[1:])


def test_json_and_csv(capsys, inputs, tiny_onnx_path):
    folder, _ = inputs
    code, out, _ = run(capsys, folder, "--json", "--model", tiny_onnx_path)
    rows = json.loads(out)
    assert code == 0 and len(rows) == 3
    for row in rows:
        assert row["class"] == str(row["index"]) and 0 <= row["index"] <= 9 and len(row["next"]) == 2
        assert sum(row["probabilities"]) == pytest.approx(1, abs=1e-4)
        assert row["confidence"] == max(row["probabilities"])
    code, out, _ = run(capsys, folder, "--csv", "--model", tiny_onnx_path)
    table = list(csv.DictReader(io.StringIO(out)))
    assert [r["file"] for r in table] == [r["file"] for r in rows]
    assert [r["class"] for r in table] == [r["class"] for r in rows]


def test_bad_inputs_each_get_a_line_and_the_rest_still_runs(capsys, inputs, tmp_path, tiny_onnx_path):
    folder, _ = inputs
    (tmp_path / "notes.png").write_text("not an image")
    Image.new("L", (50, 50), 255).save(tmp_path / "blank.png")
    np.save(tmp_path / "wrong.npy", np.zeros((5, 5)))
    code, out, err = run(
        capsys,
        folder / "d0.png",
        tmp_path / "notes.png",
        tmp_path / "blank.png",
        tmp_path / "missing.png",
        tmp_path / "wrong.npy",
        "--model",
        tiny_onnx_path,
    )
    assert code == 1
    assert err.splitlines() == [
        f"error: {tmp_path / 'notes.png'}: not a readable image (UnidentifiedImageError); use a PNG, JPEG or BMP file",
        f"error: {tmp_path / 'blank.png'}: the image is empty (no ink); draw or scan a digit",
        f"error: {tmp_path / 'missing.png'}: no such file",
        f"error: {tmp_path / 'wrong.npy'}: array has shape (5, 5); "
        "the model takes (28, 28) images, one or a stack of N",
    ]
    assert len(out.splitlines()) == 2 and "d0.png" in out


def test_missing_or_corrupt_model_is_exit_code_2(capsys, inputs, tmp_path):
    folder, _ = inputs
    code, out, err = run(capsys, folder, "--model", tmp_path / "none.onnx")
    assert code == 2 and out == ""
    assert err.strip() == (
        f"error: model {tmp_path / 'none.onnx'} not found; "
        "get it with `dvc pull`, or build it with `dvc repro` (or pass another path)"
    )
    (tmp_path / "bad.onnx").write_bytes(b"\x00garbage" * 100)
    code, _, err = run(capsys, folder, "--model", tmp_path / "bad.onnx")
    assert code == 2 and len(err.splitlines()) == 1
    assert "is not a readable ONNX model" in err and "`dvc pull`" in err


@pytest.mark.parametrize(
    "array, expected",
    [
        (np.array(3.0), "array has shape ()"),
        (np.zeros((0, 28, 28)), "array has shape (0, 28, 28)"),
        (np.array(["a", "b"]), "not a readable NumPy array of numbers"),
        (np.full((28, 28), np.nan), "NaN or infinite"),
        (np.zeros((28, 28), np.complex64), "it holds complex64 values"),
        # outside MNIST's scales: refused, not guessed (these were classified at 100% confidence)
        (np.full((28, 28), 1000.0), "array values span [1000, 1000]; expected 0-1 or 0-255"),
        (np.linspace(-5, 5, 784).reshape(28, 28), "array values span [-5, 5]; expected 0-1 or 0-255"),
        (np.full((28, 28), 300, np.int32), "array values span [300, 300]"),
    ],
)
def test_odd_arrays_are_input_errors_not_crashes(tmp_path, array, expected):
    np.save(tmp_path / "odd.npy", array)
    with pytest.raises(transform.InputError) as err:
        array_images(tmp_path / "odd.npy")
    assert expected in str(err.value)


def test_array_layouts_and_scales_are_accepted(tmp_path):
    digit = np.random.default_rng(1).integers(0, 256, (28, 28)).astype(np.uint8)
    for name, array in {
        "single.npy": digit,
        "channel.npy": digit[..., None],
        "batch.npy": digit[None, ..., None],
        "unit.npy": digit / 255.0,
    }.items():
        np.save(tmp_path / name, array)
        (loaded,) = array_images(tmp_path / name)
        np.testing.assert_allclose(loaded, digit[..., None] / 255.0, atol=1e-6)
    np.savez(tmp_path / "pair.npz", digits=np.stack([digit, digit]))
    assert len(array_images(tmp_path / "pair.npz")) == 2


def test_photos_are_turned_upright_and_huge_images_refused(tmp_path):
    upright = np.full((60, 40), 255, np.uint8)
    upright[5:55, 18:22] = 0
    photo = Image.fromarray(upright).rotate(90, expand=True)
    exif = Image.Exif()
    exif[0x0112] = 6  # EXIF orientation: rotate 90 degrees clockwise to view
    photo.save(tmp_path / "photo.jpg", exif=exif)
    gray = transform.read_image(tmp_path / "photo.jpg")
    assert gray.shape == (60, 40)
    with pytest.raises(transform.InputError, match="too large"):
        transform.read_image(b"P5 10000 6000 255\n")


def test_a_speck_does_not_widen_the_crop_and_thin_strokes_still_count():
    ink = np.zeros((200, 200), np.float32)
    ink[40:160, 90:110] = 1.0
    ink[5, 195] = 1.0  # one speck of scanner noise, far from the digit
    assert transform.ink_box(ink) == (40, 160, 90, 110)
    thin = np.zeros((200, 200), np.float32)
    thin[30:170, 100] = 1.0  # a 1-pixel stroke vanishes in the median filter
    assert transform.ink_box(thin) == (30, 170, 100, 101)
    digit = transform.mnist_normalise(255 - (thin * 255).astype(np.uint8))
    assert digit.shape == (28, 28) and digit.max() > 0


def frame_of(tmp_path, name: str, image: Image.Image) -> np.ndarray:
    image.save(tmp_path / name)
    return transform.mnist_normalise(transform.read_image(tmp_path / name))


def test_a_16_bit_grayscale_png_keeps_its_levels(tmp_path):
    digit = a_seven(soft=True)
    eight = frame_of(tmp_path, "8bit.png", Image.fromarray(digit))
    sixteen = Image.fromarray(digit.astype(np.uint16) * 257)
    assert sixteen.mode.startswith("I;16")
    np.testing.assert_allclose(frame_of(tmp_path, "16bit.png", sixteen), eight, atol=0.02)
    dark_paper = Image.fromarray((255 - digit.astype(np.uint16)) * 257)
    np.testing.assert_allclose(frame_of(tmp_path, "16bit_paper.png", dark_paper), eight, atol=0.02)


def test_a_light_digit_on_a_transparent_background_is_read_like_a_dark_one(tmp_path):
    digit = a_seven(soft=True)
    expected = frame_of(tmp_path, "opaque.png", Image.fromarray(digit))
    for ink in (255, 0):  # white ink, then black ink, each opaque where the digit is and transparent elsewhere
        rgba = np.zeros((*digit.shape, 4), np.uint8)
        rgba[..., :3] = ink
        rgba[..., 3] = digit
        frame = frame_of(tmp_path, f"transparent_{ink}.png", Image.fromarray(rgba, "RGBA"))
        np.testing.assert_allclose(frame, expected, atol=0.02)


def test_an_npz_with_several_arrays_is_refused_naming_them(tmp_path):
    digits = np.zeros((2, 28, 28), np.uint8)
    np.savez(tmp_path / "two.npz", images=digits, labels=np.array([1, 2]))
    with pytest.raises(transform.InputError) as err:
        array_images(tmp_path / "two.npz")
    assert str(err.value) == (
        "the .npz holds 2 arrays (images, labels), not one; save the images alone "
        "with numpy.save or numpy.savez(path, images)"
    )


@pytest.fixture(scope="module")
def odd_models(tmp_path_factory, tiny_onnx_path):
    """ONNX files that parse but are no classifier of this project's images (the wrong input shape, the wrong
    number of classes), and one cut short."""
    import keras

    folder = tmp_path_factory.mktemp("odd_models")
    for name, shape, classes in [("rgb32.onnx", (32, 32, 3), 10), ("seven_classes.onnx", (28, 28, 1), 7)]:
        model = keras.Sequential(
            [keras.Input(shape), keras.layers.Flatten(), keras.layers.Dense(classes, activation="softmax")]
        )
        onnx_file(folder / name, model)
    (folder / "cut.onnx").write_bytes(tiny_onnx_path.read_bytes()[:3000])
    return folder


def test_a_cut_model_file_is_one_line_and_exit_code_2(capsys, inputs, odd_models):
    folder, _ = inputs
    code, out, err = run(capsys, folder, "--model", odd_models / "cut.onnx")
    assert code == 2 and out == "" and len(err.splitlines()) == 1, err
    assert err.startswith(f"error: model {odd_models / 'cut.onnx'} is not a readable ONNX model")
    assert "`dvc pull`" in err


def test_a_model_of_other_images_takes_arrays_and_refuses_photos_by_name(capsys, inputs, odd_models, tmp_path):
    folder, _ = inputs
    np.save(tmp_path / "rgb.npy", np.zeros((2, 32, 32, 3), np.float32))
    code, out, err = run(
        capsys, folder / "d0.png", tmp_path / "rgb.npy", "--json", "--model", odd_models / "rgb32.onnx"
    )
    assert code == 1 and [row["file"] for row in json.loads(out)] == [f"{tmp_path / 'rgb.npy'}[{i}]" for i in (0, 1)]
    assert err.strip() == (
        f"error: {folder / 'd0.png'}: the model takes (32, 32, 3) images and the photo transform makes MNIST's "
        "(28, 28, 1); give .npy arrays shaped as the model's input"
    )


def test_the_classes_are_the_models_own(capsys, inputs, odd_models):
    folder, _ = inputs
    code, out, _ = run(capsys, folder, "--json", "--model", odd_models / "seven_classes.onnx")
    rows = json.loads(out)
    assert code == 0 and all(len(row["probabilities"]) == 7 and row["class"] in list("0123456") for row in rows)


def test_a_successful_run_writes_nothing_on_stderr(inputs, tiny_onnx_path):
    """The real command in a clean environment: TensorFlow's start-up lines (absl, oneDNN, the CUDA stub,
    cuInit) would otherwise mix with the user's error lines."""
    folder, _ = inputs
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TF_", "ABSL_"))}
    result = subprocess.run(
        [sys.executable, "-m", "tools.predict", str(folder), "--model", str(tiny_onnx_path)],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0 and len(result.stdout.splitlines()) == 4
    assert result.stderr == ""


def test_a_prediction_imports_neither_tensorflow_nor_keras(inputs, tiny_onnx_path):
    """predict runs the ONNX file in ONNX Runtime: after a whole run, no TensorFlow, Keras or tf2onnx module has
    been imported (they take seconds and most of a gigabyte)."""
    folder, _ = inputs
    script = (
        "import sys\n"
        "from tools import predict\n"
        f"code = predict.main([{str(folder)!r}, '--model', {str(tiny_onnx_path)!r}])\n"
        "heavy = sorted({name.split('.')[0] for name in sys.modules} & {'tensorflow', 'keras', 'tf2onnx'})\n"
        "print(code, heavy)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=paths.ROOT, capture_output=True, text=True, timeout=120)
    assert result.stdout.splitlines()[-1] == "0 []", result.stdout + result.stderr

"""Properties of the predict tool's input handling, on inputs hypothesis draws: whatever a user gives it, each
input gets a 28x28 digit in [0, 1] (or a prediction) or one line that says what was wrong, never a traceback."""

import contextlib
import io
import json
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from classifier import transform
from tests.support.inputs import any_file, arrays
from tools import predict

QUICK = settings(max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def assert_one_line(error: transform.InputError) -> None:
    message = str(error)
    assert message and "\n" not in message and "Traceback" not in message


def assert_mnist_digit(digit: np.ndarray) -> None:
    assert digit.shape == (28, 28) and digit.dtype == np.float32
    assert np.isfinite(digit).all() and digit.min() >= 0 and digit.max() <= 1


@QUICK
@given(any_file())
def test_any_file_becomes_a_digit_or_one_line_error(data):
    try:
        digit = transform.mnist_normalise(transform.read_image(data))
    except transform.InputError as error:
        assert_one_line(error)
    else:
        assert_mnist_digit(digit)


@QUICK
@given(st.lists(arrays(), min_size=1, max_size=3), st.booleans())
def test_any_array_file_gives_digits_or_one_line_error(stack, as_npz):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("digits.npz" if as_npz else "digits.npy")
        if as_npz:
            np.savez(path, *stack)
        else:
            np.save(path, stack[0])
        try:
            digits = predict.read_arrays(path)
        except transform.InputError as error:
            assert_one_line(error)
        else:
            assert digits and all(d.shape == (28, 28, 1) for d in digits)
            assert all(np.isfinite(d).all() and d.min() >= 0 and d.max() <= 1 for d in digits)


INPUTS = st.lists(
    st.one_of(any_file().map(lambda data: ("png", data)), arrays().map(lambda array: ("npy", array))),
    min_size=1,
    max_size=3,
)


@settings(QUICK, max_examples=25)
@given(INPUTS)
def test_the_command_answers_each_input_with_a_row_or_an_error_line(tiny_onnx_path, inputs):
    """`main` (the command's body, in this process): exit code 0 or 1, JSON rows on stdout, `error: ...` lines on
    stderr, one row per digit and one line per failed input, and no exception."""
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i, (kind, content) in enumerate(inputs):
            path = Path(folder) / f"input{i}.{kind}"
            if kind == "npy":
                np.save(path, content)
            else:
                path.write_bytes(content)
            paths.append(str(path))
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = predict.main([*paths, "--json", "--model", str(tiny_onnx_path)])
    rows, errors = json.loads(out.getvalue()), err.getvalue().splitlines()
    assert code == (1 if errors else 0)
    assert all(line.startswith(f"error: {folder}/input") for line in errors), errors
    answered = {row["file"].split("[")[0] for row in rows} | {line.split(": ")[1] for line in errors}
    assert answered == set(paths) and len(errors) + len({r["file"].split("[")[0] for r in rows}) == len(paths)
    assert all(0 <= row["index"] <= 9 and sum(row["probabilities"]) == pytest.approx(1, abs=1e-3) for row in rows)

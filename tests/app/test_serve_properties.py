"""Properties of `POST /api/predict` on the real server, on requests hypothesis draws: an image of any mode,
format and size up to just over the limit, a damaged one, random bytes, odd JSON. Each gets a prediction or a
4xx with a JSON `error`; never a 500, never a dropped connection, never a traceback on the server's stderr."""

import base64

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.inputs import any_file

QUICK = settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
BODIES = st.one_of(
    any_file().map(lambda data: {"files": {"image": ("upload.png", data, "image/png")}}),
    any_file().map(lambda data: {"json": {"image": base64.b64encode(data).decode()}}),
    any_file().map(lambda data: {"json": {"image": "data:image/png;base64," + base64.b64encode(data).decode()}}),
    st.dictionaries(st.sampled_from(["image", "picture"]), JSON_VALUES, max_size=2).map(lambda body: {"json": body}),
    st.tuples(
        st.binary(max_size=500),
        st.sampled_from(
            ["application/json", "multipart/form-data; boundary=x", "application/octet-stream", "text/plain"]
        ),
    ).map(lambda b: {"data": b[0], "headers": {"Content-Type": b[1]}}),
)


@pytest.fixture(scope="module")
def session():
    with requests.Session() as session:
        yield session


@QUICK
@given(BODIES)
def test_any_request_gets_a_prediction_or_a_4xx_with_an_error(server, session, body):
    response = session.post(f"{server}/api/predict", timeout=60, **body)
    answer = response.json()
    if response.status_code == 200:
        assert answer["class"] == answer["classes"][answer["index"]] and len(answer["probabilities"]) == 10
        assert answer["confidence"] == max(answer["probabilities"])
    else:
        assert 400 <= response.status_code < 500, (response.status_code, answer)
        assert isinstance(answer["error"], str) and answer["error"] and "\n" not in answer["error"]


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=BODIES)
def test_no_request_raises_an_exception_in_the_server(served, session, body):
    """Flask logs an unhandled exception on stderr with its traceback: none of these requests raises one (libtiff
    may log a damaged file's decoding error there: the client got its 400)."""
    server, _, stderr = served
    session.post(f"{server}/api/predict", timeout=60, **body)
    assert "Traceback" not in stderr.read_text()

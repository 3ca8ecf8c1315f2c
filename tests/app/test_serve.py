"""App: the web server started by its real command, its JSON endpoint through a real HTTP client, and the
drawing page in headless Chromium."""

import base64
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from classifier import paths, transform
from maintenance import check_plots_page
from tests.support.drawn import a_seven, png_bytes
from tests.support.models import onnx_file


def memory_mb(pid: int, field: str) -> float:
    """A process's VmRSS (resident memory now) or VmHWM (its peak since it started or since reset_peak_memory)."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split(f"{field}:")[1].split()[0]) / 1024


def reset_peak_memory(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def test_a_busy_port_is_one_clear_line(server, tiny_onnx_path):
    port = server.rsplit(":", 1)[1]
    result = subprocess.run(
        [sys.executable, "-m", "tools.serve", "--port", port, "--model", str(tiny_onnx_path)],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip().startswith(f"error: cannot listen on 127.0.0.1:{port} (")
    assert result.stderr.strip().endswith("pick another --port or --host")


def test_upload_and_base64_give_the_class_and_ten_probabilities(server):
    data = png_bytes(a_seven())
    uploaded = requests.post(f"{server}/api/predict", files={"image": ("seven.png", data, "image/png")}, timeout=30)
    assert uploaded.status_code == 200
    body = uploaded.json()
    assert len(body["probabilities"]) == 10 and sum(body["probabilities"]) == pytest.approx(1, abs=1e-4)
    assert body["index"] == int(np.argmax(body["probabilities"])) and body["classes"] == [str(d) for d in range(10)]
    assert body["class"] == body["classes"][body["index"]]
    as_json = requests.post(
        f"{server}/api/predict", timeout=30, json={"image": "data:image/png;base64," + base64.b64encode(data).decode()}
    )
    assert as_json.status_code == 200 and as_json.json() == body


@pytest.mark.parametrize(
    "kwargs, status, message",
    [
        ({"json": {"image": "@@not base64@@"}}, 400, "not valid base64"),
        ({"json": {"picture": "x"}}, 400, 'send a multipart file field "image"'),
        ({"json": {"image": "data:image/png"}}, 400, "no data after its comma"),
        ({"files": {"image": ("a.png", b"plain text", "image/png")}}, 400, "not a readable image"),
        ({"files": {"image": ("a.png", png_bytes(np.zeros((40, 40), np.uint8)), "image/png")}}, 400, "empty (no ink)"),
        (
            {"data": b"x" * (3 * 1024 * 1024), "headers": {"Content-Type": "application/octet-stream"}},
            413,
            "request too large",
        ),
    ],
)
def test_bad_requests_get_a_4xx_with_a_clear_message(server, kwargs, status, message):
    response = requests.post(f"{server}/api/predict", timeout=30, **kwargs)
    assert response.status_code == status
    assert message in response.json()["error"]
    assert requests.get(f"{server}/", timeout=10).status_code == 200, "the server is still up"


@pytest.mark.skipif(
    not Path(check_plots_page.CHROMIUM).is_file(), reason="needs Debian's chromium: run `make browser-deps`"
)
def test_drawing_on_the_page_shows_a_prediction(server, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=check_plots_page.CHROMIUM, args=check_plots_page.CHROMIUM_ARGS
        )
        page = browser.new_page()
        page.goto(f"{server}/")
        box = page.locator("#pad").bounding_box()
        page.mouse.move(box["x"] + 80, box["y"] + 60)
        page.mouse.down()
        for x, y in [(200, 60), (190, 120), (160, 180), (130, 240)]:
            page.mouse.move(box["x"] + x, box["y"] + y, steps=8)
        page.mouse.up()
        page.wait_for_function("document.getElementById('digit').textContent.length === 1", timeout=15000)
        assert page.locator("#digit").text_content() in list("0123456789")
        assert page.locator("#bars .bar").count() == 10
        page.screenshot(path=str(tmp_path / "app.png"))
        page.click("#clear")
        assert page.locator("#digit").text_content() == ""
        browser.close()


def rgba_png(size: int, digit: bool) -> bytes:
    """A size x size RGBA PNG: transparent, with a dark bar as the digit when `digit`; tiny on the wire (zeros
    compress), 4 bytes a pixel once decoded."""
    image = Image.new("RGBA", (size, size))
    if digit:
        image.paste((0, 0, 0, 255), (size // 2 - size // 40, size // 5, size // 2 + size // 40, size * 4 // 5))
    return png_bytes(image)


def post_all(url: str, bodies: list[bytes]) -> list[requests.Response]:
    with ThreadPoolExecutor(len(bodies)) as pool:
        return list(
            pool.map(
                lambda body: requests.post(
                    f"{url}/api/predict", files={"image": ("big.png", body, "image/png")}, timeout=300
                ),
                bodies,
            )
        )


def test_a_flood_of_huge_uploads_keeps_the_server_memory_bounded(served):
    """10 concurrent 7000x7000 RGBA uploads (49 megapixels, 196 MB each decoded) are refused from their header;
    8 concurrent uploads just under the pixel limit are decoded one at a time."""
    url, process, _ = served
    rss_before = memory_mb(process.pid, "VmRSS")
    reset_peak_memory(process.pid)
    too_large = post_all(url, [rgba_png(7000, digit=False)] * 10)
    assert {r.status_code for r in too_large} == {400}
    assert "too large (7000x7000)" in too_large[0].json()["error"]
    side = int(transform.MAX_PIXELS**0.5)
    assert all(r.status_code == 200 for r in post_all(url, [rgba_png(side, digit=True)] * 8))
    assert memory_mb(process.pid, "VmHWM") - rss_before < 700


def test_a_client_that_stalls_mid_headers_is_disconnected(server):
    host, port = server.removeprefix("http://").split(":")
    stalled = [socket.create_connection((host, int(port)), timeout=60) for _ in range(50)]
    for sock in stalled:
        sock.sendall(b"POST /api/predict HTTP/1.1\r\nHost: x\r\nContent-Ty")
    started = time.monotonic()
    assert requests.get(f"{server}/", timeout=10).status_code == 200, "others are still served"
    for sock in stalled:
        assert sock.recv(100) == b"", "closed by the server"
        sock.close()
    assert time.monotonic() - started < 30


def test_one_client_at_a_time_gets_answers_in_milliseconds(server):
    data = png_bytes(a_seven())
    with requests.Session() as session:
        times = []
        for _ in range(30):
            started = time.perf_counter()
            response = session.post(
                f"{server}/api/predict", files={"image": ("seven.png", data, "image/png")}, timeout=30
            )
            times.append(time.perf_counter() - started)
            assert response.status_code == 200
    assert statistics.median(times) < 0.03, times


def test_a_model_that_is_no_classifier_of_these_images_is_one_line(tmp_path, clean_env):
    import keras

    model = keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(10)])
    path = onnx_file(tmp_path / "rgb32.onnx", model)
    result = subprocess.run(
        [sys.executable, "-m", "tools.serve", "--port", "0", "--model", str(path)],
        cwd=paths.ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env=clean_env,
    )
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.startswith(f"error: model {path} takes images shaped (32, 32, 3)")
    assert len(result.stderr.splitlines()) == 1, result.stderr


def test_a_prediction_imports_neither_tensorflow_nor_keras(tiny_onnx_path, clean_env):
    """The server's app answers with the ONNX file in ONNX Runtime: after an answer, no TensorFlow, Keras or
    tf2onnx module has been imported in its process."""
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from classifier import inference\n"
        "from tests.support.drawn import a_seven, png_bytes\n"
        "from tools import serve\n"
        f"app = serve.create_app(inference.Classifier(Path({str(tiny_onnx_path)!r})))\n"
        "import io\n"
        "answer = app.test_client().post('/api/predict', data={'image': (io.BytesIO(png_bytes(a_seven())), 'a.png')})\n"
        "heavy = sorted({name.split('.')[0] for name in sys.modules} & {'tensorflow', 'keras', 'tf2onnx'})\n"
        "print(answer.status_code, len(answer.get_json()['probabilities']), heavy)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=paths.ROOT, capture_output=True, text=True, timeout=120, env=clean_env
    )
    assert result.stdout.splitlines()[-1] == "200 10 []", result.stdout + result.stderr


def test_the_server_wrote_nothing_on_stderr(served):
    """After its start-up and requests of each kind (good, bad, too large): no TensorFlow start-up lines, no
    access log, no warning."""
    server, _, stderr = served
    answers = [
        requests.post(f"{server}/api/predict", files={"image": ("7.png", png_bytes(a_seven()), "image/png")}),
        requests.post(f"{server}/api/predict", files={"image": ("x.png", b"not an image", "image/png")}),
        requests.post(f"{server}/api/predict", json={"image": "%%%"}),
        requests.post(f"{server}/api/predict", data=b"x" * (3 * 1024 * 1024)),
        requests.get(f"{server}/"),
    ]
    assert [answer.status_code for answer in answers] == [200, 400, 400, 413, 200]
    assert stderr.read_text() == ""

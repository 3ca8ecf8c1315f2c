"""App: the web server started by its real command, its JSON endpoint through a real HTTP client, and the
drawing page in headless Chromium."""
import base64
import io
import os
import select
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import requests
from PIL import Image

from stages import common
from tools import check_plots_page


def png_bytes(image: np.ndarray) -> bytes:
    out = io.BytesIO()
    Image.fromarray(image).save(out, format="PNG")
    return out.getvalue()


def a_seven() -> np.ndarray:
    image = np.zeros((120, 120), np.uint8)
    image[20:30, 25:95] = 255
    for row in range(30, 105):
        col = 95 - (row - 30) // 2
        image[row, col - 6: col + 6] = 255
    return image


@pytest.fixture(scope="module")
def server(tiny_model_path):
    """`python -m tools.serve --port 0`: the real command, on 127.0.0.1 by default, on a free port."""
    process = subprocess.Popen([sys.executable, "-m", "tools.serve", "--port", "0", "--model", str(tiny_model_path)],
                               cwd=common.ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                               env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    try:
        ready, _, _ = select.select([process.stdout], [], [], 120)
        line = process.stdout.readline() if ready else "(no output in 120 s)"
        assert line.startswith("serving on http://127.0.0.1:"), line
        yield line.split()[2].rstrip("/")
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_busy_port_is_one_clear_line(server, tiny_model_path):
    port = server.rsplit(":", 1)[1]
    result = subprocess.run([sys.executable, "-m", "tools.serve", "--port", port, "--model", str(tiny_model_path)],
                            cwd=common.ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.strip().startswith(f"error: cannot listen on 127.0.0.1:{port} (")
    assert result.stderr.strip().endswith("pick another --port or --host")


def test_upload_and_base64_give_the_digit_and_ten_probabilities(server):
    data = png_bytes(a_seven())
    uploaded = requests.post(f"{server}/api/predict", files={"image": ("seven.png", data, "image/png")}, timeout=30)
    assert uploaded.status_code == 200
    body = uploaded.json()
    assert len(body["probabilities"]) == 10 and sum(body["probabilities"]) == pytest.approx(1, abs=1e-4)
    assert body["digit"] == int(np.argmax(body["probabilities"]))
    as_json = requests.post(f"{server}/api/predict", timeout=30,
                            json={"image": "data:image/png;base64," + base64.b64encode(data).decode()})
    assert as_json.status_code == 200 and as_json.json() == body


@pytest.mark.parametrize("kwargs, status, message", [
    ({"json": {"image": "@@not base64@@"}}, 400, "not valid base64"),
    ({"json": {"picture": "x"}}, 400, 'send a multipart file field "image"'),
    ({"json": {"image": "data:image/png"}}, 400, "no data after its comma"),
    ({"files": {"image": ("a.png", b"plain text", "image/png")}}, 400, "not a readable image"),
    ({"files": {"image": ("a.png", png_bytes(np.zeros((40, 40), np.uint8)), "image/png")}}, 400, "empty (no ink)"),
    ({"data": b"x" * (3 * 1024 * 1024), "headers": {"Content-Type": "application/octet-stream"}}, 413,
     "request too large"),
])
def test_bad_requests_get_a_4xx_with_a_clear_message(server, kwargs, status, message):
    response = requests.post(f"{server}/api/predict", timeout=30, **kwargs)
    assert response.status_code == status
    assert message in response.json()["error"]
    assert requests.get(f"{server}/", timeout=10).status_code == 200, "the server is still up"


@pytest.mark.skipif(not Path(check_plots_page.CHROMIUM).is_file(),
                    reason="needs Debian's chromium: run `make browser-deps`")
def test_drawing_on_the_page_shows_a_prediction(server, tmp_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=check_plots_page.CHROMIUM,
                                             args=check_plots_page.CHROMIUM_ARGS)
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

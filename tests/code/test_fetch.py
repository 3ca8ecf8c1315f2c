"""Units: the fetch stage's sources, checksum verification, limits and error reporting, on tiny local files
and a real local HTTP server that misbehaves."""

import hashlib
import http.server
import threading
import time

import pytest

from classifier import dataset, download, errors, paths
from classifier.params import checks, sections

LIMITS = download.Limits(timeout_s=5, deadline_s=30, max_bytes=1 << 20)


@pytest.fixture
def mirror(tmp_path):
    directory = tmp_path / "mirror"
    directory.mkdir()
    (directory / "a.gz").write_bytes(b"payload-a")
    return directory


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_copies_from_a_local_directory_and_verifies(mirror, tmp_path):
    raw = tmp_path / "raw"
    origin = download.fetch_file("a.gz", sha(b"payload-a"), [str(mirror)], raw, LIMITS)
    assert origin == str(mirror)
    assert (raw / "a.gz").read_bytes() == b"payload-a"
    assert download.fetch_file("a.gz", sha(b"payload-a"), [], raw, LIMITS) == "already present"


def test_downloads_through_a_url(mirror, tmp_path, capsys):
    raw = tmp_path / "raw"
    origin = download.fetch_file("a.gz", sha(b"payload-a"), [mirror.as_uri()], raw, LIMITS)
    assert origin == mirror.as_uri()
    assert (raw / "a.gz").read_bytes() == b"payload-a"
    assert "a.gz" in capsys.readouterr().err, "a download shows a progress bar"


def test_checksum_mismatch_falls_through_to_the_next_source(mirror, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.gz").write_bytes(b"corrupt")
    raw = tmp_path / "raw"
    origin = download.fetch_file("a.gz", sha(b"payload-a"), [str(bad), str(mirror)], raw, LIMITS)
    assert origin == str(mirror)
    assert sorted(p.name for p in raw.iterdir()) == ["a.gz"]


def test_every_source_failing_lists_each_one_and_leaves_nothing(mirror, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.gz").write_bytes(b"stale wrong bytes")
    places = [str(mirror), str(tmp_path / "nowhere"), "http://127.0.0.1:9/mnist/"]
    with pytest.raises(errors.UserError) as err:
        download.fetch_file("a.gz", sha(b"something else"), places, raw, LIMITS)
    message = str(err.value)
    assert f"{mirror}: checksum mismatch" in message
    assert "nowhere/a.gz does not exist" in message
    assert "http://127.0.0.1:9/mnist/:" in message
    assert "MNIST_MIRROR=" in message
    assert list(raw.iterdir()) == [], "a file that fails its checksum is never left in data/raw"


def test_environment_mirror_is_tried_first(monkeypatch):
    monkeypatch.setenv("MNIST_MIRROR", "/data/mnist")
    assert download.sources(["https://a/", "https://b/"]) == ["/data/mnist", "https://a/", "https://b/"]
    monkeypatch.setenv("MNIST_MIRROR", "")
    assert download.sources(["https://a/"]) == ["https://a/"]


def test_params_checksums_are_checked(tmp_path, monkeypatch):
    path = tmp_path / "params.yaml"
    names = list(dataset.RAW_FILES)
    sums = "".join(f"    {n}: {'a' * 64}\n" for n in names[:3]) + f"    {names[3]}: not-a-checksum\n"
    path.write_text(f"fetch:\n  mirrors: [https://x/]\n  timeout_s: 5\n  deadline_s: 9\n  max_mb: 1\n  sha256:\n{sums}")
    monkeypatch.setattr(paths, "PARAMS_PATH", path)
    with pytest.raises(errors.UserError, match=f"fetch.sha256.{names[3]} must be 64 lowercase hex"):
        checks.load(sections.Fetch)


class Misbehaving(http.server.BaseHTTPRequestHandler):
    """/trickle/: one byte every 0.2 s, for ever; /flood/: zeros without end; /html/: a web page."""

    def do_GET(self):
        self.send_response(200)
        self.end_headers()
        try:
            if self.path.startswith("/trickle/"):
                while True:
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.2)
            elif self.path.startswith("/flood/"):
                while True:
                    self.wfile.write(bytes(1 << 16))
            else:
                self.wfile.write(b"<html><body>Not the file you want</body></html>")
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Misbehaving)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_a_trickling_mirror_is_given_up_at_the_deadline_not_after_each_read(server, tmp_path):
    started = time.monotonic()
    with pytest.raises(errors.UserError, match=r"still downloading after 1 s \(fetch.deadline_s\)"):
        download.fetch_file(
            "a.gz",
            sha(b"x"),
            [f"{server}/trickle/"],
            tmp_path / "raw",
            download.Limits(timeout_s=5, deadline_s=1, max_bytes=1 << 20),
        )
    assert time.monotonic() - started < 4
    assert list((tmp_path / "raw").iterdir()) == [], "no temporary file left"


def test_a_flooding_mirror_is_cut_off_at_the_size_cap(server, tmp_path):
    with pytest.raises(errors.UserError, match=r"it sent over 1 MB \(fetch.max_mb\)"):
        download.fetch_file("a.gz", sha(b"x"), [f"{server}/flood/"], tmp_path / "raw", LIMITS)
    assert list((tmp_path / "raw").iterdir()) == []


def test_a_web_page_instead_of_the_file_fails_its_checksum(server, tmp_path):
    with pytest.raises(errors.UserError, match="html/: checksum mismatch"):
        download.fetch_file("a.gz", sha(b"x"), [f"{server}/html/"], tmp_path / "raw", LIMITS)


@pytest.mark.parametrize(
    "mirror",
    [
        "http://alice:s3cret@127.0.0.1:9/mnist/",
        "http://alice:s3cret@mirror.invalid/mnist/",
        "http://alice:s%33cret@mirror.invalid/mnist/",
    ],
)
def test_a_password_in_a_mirror_url_is_never_printed(tmp_path, mirror):
    with pytest.raises(errors.UserError) as err:
        download.fetch_file("a.gz", sha(b"x"), [mirror], tmp_path / "raw", LIMITS)
    assert "s3cret" not in str(err.value) and "s%33cret" not in str(err.value)
    assert "http://alice:***@" in str(err.value)


def test_a_password_in_a_mirror_url_is_sent_as_basic_authentication():
    request = download.request_for("https://alice:s%33cret@example.org/mnist/a.gz")
    assert request.full_url == "https://example.org/mnist/a.gz"
    assert request.get_header("Authorization") == "Basic YWxpY2U6czNjcmV0"  # alice:s3cret


def test_an_oversized_local_file_is_refused_before_it_is_copied(mirror, tmp_path):
    (mirror / "big.gz").write_bytes(bytes(2 << 20))
    with pytest.raises(errors.UserError, match="over fetch.max_mb"):
        download.fetch_file("big.gz", sha(b"x"), [str(mirror)], tmp_path / "raw", LIMITS)

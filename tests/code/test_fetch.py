"""Units: the fetch stage's sources, checksum verification and error reporting, on tiny local files."""
import hashlib

import pytest

from stages import common, fetch


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
    origin = fetch.fetch_file("a.gz", sha(b"payload-a"), [str(mirror)], raw, timeout=5)
    assert origin == str(mirror)
    assert (raw / "a.gz").read_bytes() == b"payload-a"
    assert fetch.fetch_file("a.gz", sha(b"payload-a"), [], raw, timeout=5) == "already present"


def test_downloads_through_a_url(mirror, tmp_path, capsys):
    raw = tmp_path / "raw"
    origin = fetch.fetch_file("a.gz", sha(b"payload-a"), [mirror.as_uri()], raw, timeout=5)
    assert origin == mirror.as_uri()
    assert (raw / "a.gz").read_bytes() == b"payload-a"
    assert "a.gz" in capsys.readouterr().err, "a download shows a progress bar"


def test_checksum_mismatch_falls_through_to_the_next_source(mirror, tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "a.gz").write_bytes(b"corrupt")
    raw = tmp_path / "raw"
    origin = fetch.fetch_file("a.gz", sha(b"payload-a"), [str(bad), str(mirror)], raw, timeout=5)
    assert origin == str(mirror)
    assert sorted(p.name for p in raw.iterdir()) == ["a.gz"]


def test_every_source_failing_lists_each_one_and_leaves_nothing(mirror, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "a.gz").write_bytes(b"stale wrong bytes")
    places = [str(mirror), str(tmp_path / "nowhere"), "http://127.0.0.1:9/mnist/"]
    with pytest.raises(common.PipelineError) as err:
        fetch.fetch_file("a.gz", sha(b"something else"), places, raw, timeout=2)
    message = str(err.value)
    assert f"{mirror}: checksum mismatch" in message
    assert "nowhere/a.gz does not exist" in message
    assert "http://127.0.0.1:9/mnist/:" in message
    assert "MNIST_MIRROR=" in message
    assert list(raw.iterdir()) == [], "a file that fails its checksum is never left in data/raw"


def test_environment_mirror_is_tried_first(monkeypatch):
    monkeypatch.setenv("MNIST_MIRROR", "/data/mnist")
    assert fetch.sources(["https://a/", "https://b/"]) == ["/data/mnist", "https://a/", "https://b/"]
    monkeypatch.setenv("MNIST_MIRROR", "")
    assert fetch.sources(["https://a/"]) == ["https://a/"]


def test_params_checksums_are_checked(tmp_path, monkeypatch):
    params = tmp_path / "params.yaml"
    names = sorted(common.RAW_FILES.values())
    sums = "".join(f"    {n}: {'a' * 64}\n" for n in names[:3]) + f"    {names[3]}: not-a-checksum\n"
    params.write_text(f"fetch:\n  mirrors: [https://x/]\n  timeout_s: 5\n  sha256:\n{sums}")
    monkeypatch.setattr(common, "PARAMS_PATH", params)
    with pytest.raises(common.PipelineError, match=f"fetch.sha256.{names[3]} must be 64 lowercase hex"):
        fetch.read_params()

"""Fetch stage: get the dataset's four IDX .gz files and verify each against its pinned SHA-256.

Reads: params.yaml `fetch` (mirrors: ordered base URLs; timeout_s, deadline_s, max_mb: limits of one download;
       sha256: role -> checksum) and
       the MNIST_MIRROR environment variable, a local directory or base URL tried before the mirrors.
Writes: data/raw/<file>.gz for the four files. A file that fails its checksum never lands there, and a
        temporary file that a killed run left in data/raw is removed.
"""

import sys

from classifier import dataset, download, paths
from classifier.errors import run
from classifier.params.checks import load
from classifier.params.fetch import Fetch


def main() -> None:
    p = load(Fetch)
    places = download.sources(p.mirrors)
    limits = download.Limits(p.timeout_s, p.deadline_s, int(p.max_mb * 2**20))
    for stale in paths.RAW_DIR.glob(".tmp-*"):  # left by a killed run
        stale.unlink()
    for role, name in dataset.RAW_FILES.items():
        expected = getattr(p.sha256, role)
        origin = download.fetch_file(name, expected, places, paths.RAW_DIR, limits)
        print(f"{name}: ok ({origin})")


if __name__ == "__main__":
    sys.exit(run(main))

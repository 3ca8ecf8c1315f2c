"""params.yaml `fetch`: where the four IDX files come from, the limits of one download, and their checksums
(by role: the file names are classifier/dataset.py's)."""

from typing import Annotated

from pydantic import AfterValidator, Field

from classifier.params.checks import Section


def hex_digest(digest: str) -> str:
    if len(digest) != 64 or set(digest) - set("0123456789abcdef"):
        raise ValueError(f"must be 64 lowercase hex digits, got {digest!r}; compute it with `sha256sum <file>`")
    return digest


Sha256 = Annotated[str, AfterValidator(hex_digest)]


class Checksums(Section):
    train_images: Sha256 = Field(description="of train-images-idx3-ubyte.gz")
    train_labels: Sha256 = Field(description="of train-labels-idx1-ubyte.gz")
    test_images: Sha256 = Field(description="of t10k-images-idx3-ubyte.gz")
    test_labels: Sha256 = Field(description="of t10k-labels-idx1-ubyte.gz")


class Fetch(Section):
    key = "fetch"
    mirrors: list[Annotated[str, Field(min_length=1)]] = Field(
        description="base URLs tried in order after `$MNIST_MIRROR` (a local directory or URL)"
    )
    timeout_s: float = Field(gt=0, description="seconds before a silent mirror counts as failed")
    deadline_s: float = Field(
        gt=0,
        description="most seconds for one file from one source, however slowly it "
        "trickles in; then the next source is tried",
    )
    max_mb: float = Field(
        gt=0,
        description="largest file accepted, in MB (MNIST's largest is 9.9); a bigger download is cut off and rejected",
    )
    sha256: Checksums = Field(
        description="the SHA-256 each of the four files must have, by role; a file that differs is rejected"
    )

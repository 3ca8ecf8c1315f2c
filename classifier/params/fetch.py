"""params.yaml `fetch`: where the four IDX files come from, the limits of one download, and their checksums."""

from typing import Annotated

from pydantic import AfterValidator, Field, field_validator

from classifier import dataset
from classifier.params.checks import Section


def hex_digest(digest: str) -> str:
    if len(digest) != 64 or set(digest) - set("0123456789abcdef"):
        raise ValueError(f"must be 64 lowercase hex digits, got {digest!r}; compute it with `sha256sum <file>`")
    return digest


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
    sha256: dict[str, Annotated[str, AfterValidator(hex_digest)]] = Field(
        description="file name -> the SHA-256 each of the four files must have; a file that differs is rejected"
    )

    @field_validator("sha256")
    @classmethod
    def the_four_files(cls, sums: dict[str, str]) -> dict[str, str]:
        expected = set(dataset.RAW_FILES.values())
        if set(sums) != expected:
            raise ValueError(
                f"must list exactly {', '.join(sorted(expected))}; it lists {', '.join(sorted(sums)) or 'nothing'}"
            )
        return sums

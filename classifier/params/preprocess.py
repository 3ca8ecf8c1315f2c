"""params.yaml `preprocess`: the validation split held out of the training set."""

from pydantic import Field

from classifier.params.checks import Section


class Preprocess(Section):
    key = "preprocess"
    val_fraction: float = Field(
        gt=0,
        le=0.5,
        description="share of the training set held out, stratified by "
        "class, as the validation split for early stopping",
    )
    seed: int = Field(ge=0, description="seed of that split")

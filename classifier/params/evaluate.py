"""params.yaml `evaluate`: scoring the model on the test set and drawing the review pictures."""

from pydantic import Field

from classifier.params.checks import Section


class Evaluate(Section):
    key = "evaluate"
    batch_size: int = Field(ge=1, description="prediction batch size")
    misclassified_shown: int = Field(ge=1, le=400, description="images in `plots/misclassified.png`")

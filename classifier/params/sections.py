"""The whole of params.yaml: one section per stage, which dvc.yaml declares as that stage's params."""

from classifier.params.checks import Section
from classifier.params.dataset import Dataset
from classifier.params.evaluate import Evaluate
from classifier.params.fetch import Fetch
from classifier.params.preprocess import Preprocess
from classifier.params.train import Train


class Params(Section):
    dataset: Dataset
    fetch: Fetch
    preprocess: Preprocess
    train: Train
    evaluate: Evaluate


SECTIONS: dict[str, type[Section]] = {name: field.annotation for name, field in Params.model_fields.items()}

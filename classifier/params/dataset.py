"""params.yaml `dataset`: what the images are. The model's input and output, preprocess's checks, the plots and
reports take the images' shape and the class names from here, and the export writes the names into the ONNX file,
where predict and serve read them."""

from pydantic import Field, field_validator

from classifier.params.checks import Section


class Dataset(Section):
    key = "dataset"
    name: str = Field(min_length=1, description="the dataset's name, for titles and reports")
    image_size: int = Field(ge=4, le=1024, description="the images are square, this many pixels a side")
    channels: int = Field(ge=1, le=4, description="colour channels per pixel (1: grayscale)")
    classes: list[str] = Field(min_length=2, description="one name per class, in label order: label i is the i-th name")

    @field_validator("classes")
    @classmethod
    def distinct_names(cls, names: list[str]) -> list[str]:
        repeated = sorted({name for name in names if names.count(name) > 1})
        if repeated:
            raise ValueError(f"must name each class once; {', '.join(map(repr, repeated))} appears more than once")
        if any(not name.strip() for name in names):
            raise ValueError("must give every class a non-blank name")
        return names

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """One image as the model takes it: (height, width, channels)."""
        return (self.image_size, self.image_size, self.channels)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

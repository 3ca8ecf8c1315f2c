"""params.yaml `train`: the network, its training schedule, augmentation and early stopping."""

from typing import Literal

from pydantic import Field

from classifier.params.checks import Fraction, PositiveInt, Section


class ConvBlock(Section):
    filters: list[PositiveInt] = Field(
        min_length=1, description="one convolution (+ batch norm + ReLU) per entry, with this many filters"
    )
    kernel_size: int = Field(ge=1, description="kernel size of its convolutions")
    strides: int = Field(ge=1, description="stride of its convolutions")
    padding: Literal["valid", "same"] = Field(description="`valid` shrinks the image by the kernel, `same` does not")
    pool: bool = Field(description="2x2 max pooling after the block")
    dropout: Fraction = Field(description="dropout after the block (0: none)")


class Model(Section):
    width: float = Field(
        gt=0, description="multiplies every filter and dense-unit count (0.5: half as wide, about 3x faster)"
    )
    conv_blocks: list[ConvBlock] = Field(
        min_length=1,
        description="in order; one field of one block is set by its index: `-S train.model.conv_blocks.1.filters=[96]`",
    )
    batch_norm: bool = Field(description="batch normalisation after each convolution and hidden dense layer")
    batch_norm_momentum: Fraction = Field(
        description="momentum of its moving mean and variance (Keras's 0.99 lags in runs of 1-3 epochs)"
    )
    dense_units: list[PositiveInt] = Field(description="hidden dense layers before the softmax (may be empty)")
    dense_dropout: Fraction = Field(description="dropout after each hidden dense layer")


class Augmentation(Section):
    rotation_deg: float = Field(ge=0, le=180, description="random rotation within +-degrees (0: off)")
    shift: Fraction = Field(description="random shift up to this fraction of height and width (0: off)")
    zoom: Fraction = Field(description="random zoom in or out up to this fraction (0: off)")
    elastic: float = Field(
        ge=0,
        le=100,
        description="elastic distortion (Simard et al. 2003): its strength alpha, which scales a random "
        "displacement field blurred by a Gaussian of 4 pixels (their 34: about 1.4 pixels RMS per axis; 0: off)",
    )
    horizontal_flip: bool = Field(
        description="random left-right mirroring (off for digits, where a mirrored 2 is no 2; on for clothes)"
    )
    erasing: Fraction = Field(
        description="random erasing: each image gets a black rectangle of 2-25% of its area with a probability "
        "drawn from [0, erasing] (0: off)"
    )


class EarlyStopping(Section):
    monitor: Literal["val_accuracy", "val_loss"] = Field(
        description="what early stopping watches, on the validation split"
    )
    patience: int = Field(ge=1, description="epochs without improvement before stopping; the best weights are restored")


class Train(Section):
    key = "train"
    seed: int = Field(ge=0, description="seed of weights, shuffling and augmentation")
    deterministic: bool = Field(
        description="TensorFlow op determinism: bitwise-repeatable runs on one CPU for 5-10% more time"
    )
    epochs: int = Field(ge=1, description="most epochs to run; early stopping may end sooner")
    batch_size: int = Field(ge=1, description="training batch size (the global one, however many workers)")
    workers: int = Field(
        ge=1,
        le=16,
        description="training processes on this machine, joined by TensorFlow's "
        "MultiWorkerMirroredStrategy into one run (1: a plain process)",
    )
    precision: Literal["float32", "mixed_bfloat16"] = Field(
        description="training arithmetic: float32, or mixed_bfloat16 (bfloat16 compute, float32 weights; fast "
        "only where the CPU has AMX or AVX512-BF16). The saved model computes in float32 either way"
    )
    ensemble: int = Field(
        ge=1,
        le=16,
        description="models trained one after another, with seeds seed, seed+1000, ...; the saved model averages "
        "their softmax (1: a single model)",
    )
    learning_rate: float = Field(
        gt=0, le=1, description="Adam's peak learning rate, reached after the warm-up, then cosine decay to 0"
    )
    warmup_epochs: int = Field(ge=0, description="epochs of linear warm-up from 1% of the peak")
    label_smoothing: Fraction = Field(description="label smoothing of the cross-entropy loss")
    model: Model = Field(description="the network")
    augmentation: Augmentation = Field(description="applied to training batches only")
    early_stopping: EarlyStopping = Field(description="on the validation split")

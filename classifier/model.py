"""The CNN, built from params.yaml `train.model`, and the average of several (`train.ensemble`): what the train
stage fits and saves."""

from __future__ import annotations

import keras

from classifier.errors import UserError
from classifier.params.dataset import Dataset
from classifier.params.train import Train


def build_model(p: Train, d: Dataset, name: str = "mnist_cnn") -> keras.Model:
    """Conv blocks (per filter count: conv [+BN] + ReLU; then 2x2 max pooling and dropout where the block asks),
    dense layers [+BN] + ReLU + dropout, softmax over the classes. Filter and unit counts are scaled by width."""

    def scaled(count: int) -> int:
        return max(1, round(count * p.model.width))

    def norm_relu() -> list[keras.layers.Layer]:
        norm = [keras.layers.BatchNormalization(momentum=p.model.batch_norm_momentum)] if p.model.batch_norm else []
        return [*norm, keras.layers.ReLU()]

    layers: list[keras.layers.Layer] = [keras.Input(shape=d.input_shape, name="image")]
    for block in p.model.conv_blocks:
        for filters in block.filters:
            layers.append(
                keras.layers.Conv2D(
                    scaled(filters),
                    block.kernel_size,
                    strides=block.strides,
                    padding=block.padding,
                    use_bias=not p.model.batch_norm,
                )
            )
            layers += norm_relu()
        if block.pool:
            layers.append(keras.layers.MaxPooling2D(2))
        if block.dropout:
            layers.append(keras.layers.Dropout(block.dropout))
    layers.append(keras.layers.Flatten())
    for units in p.model.dense_units:
        layers += [
            keras.layers.Dense(scaled(units), use_bias=not p.model.batch_norm),
            *norm_relu(),
            keras.layers.Dropout(p.model.dense_dropout),
        ]
    # float32 whatever train.precision says: a softmax and its loss in bfloat16 lose the small probabilities
    layers.append(keras.layers.Dense(d.num_classes, activation="softmax", name="digit", dtype="float32"))
    try:
        return keras.Sequential(layers, name=name)
    except ValueError as exc:
        raise UserError(
            f"train.model cannot be built ({str(exc).splitlines()[0]}); the conv blocks shrink the "
            f"{d.image_size}x{d.image_size} image to nothing: use fewer blocks, smaller kernel_size "
            "or strides, pool: false or padding: same"
        )


def float32_copy(p: Train, d: Dataset, model: keras.Model) -> keras.Model:
    """The trained model as a float32 one, for saving: under mixed_bfloat16 its weights are float32 already, but
    its layers would compute in bfloat16 wherever the .h5 is loaded (slow on a CPU without AMX, and less exact)."""
    if p.precision == "float32":
        return model
    keras.mixed_precision.set_dtype_policy("float32")
    copy = build_model(p, d, name=model.name)
    copy.set_weights(model.get_weights())
    return copy


def member_name(index: int) -> str:
    """The name of an ensemble's member `index` (from 0), unique inside the saved model."""
    return f"member_{index + 1}"


def averaged(members: list[keras.Model], d: Dataset) -> keras.Model:
    """One model of the `members`: each sees the image, and their softmax outputs are averaged, with Keras's own
    layers only, so the .h5 loads with no custom objects and exports like a single model. One member is itself."""
    if len(members) == 1:
        return members[0]
    image = keras.Input(shape=d.input_shape, name="image")
    probabilities = keras.layers.Average(name="average", dtype="float32")([member(image) for member in members])
    return keras.Model(image, probabilities, name="mnist_cnn_ensemble")

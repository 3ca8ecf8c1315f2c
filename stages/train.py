"""Train stage: fit the CNN on the training split, early-stopping on the validation split.

Reads: data/processed/{train,val}.npz and params.yaml `train`.
Writes: models/model.h5 (HDF5; `keras.models.load_model` loads it with no custom objects); through
        dvclive, metrics/train/: per-epoch loss and accuracy for train and validation under plots/metrics/
        (DVC plots data) and metrics.json (last epoch, epochs run, the best epoch (counted from 1) and its
        validation accuracy, training wall time); and metrics/train/environment.json (CPU, instruction sets,
        versions, threads: what the figures depend on besides params). The test set is never read here.
"""
from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from dvclive import Live  # noqa: E402
from dvclive.keras import DVCLiveCallback  # noqa: E402

from stages import common, environment  # noqa: E402


@dataclass(frozen=True)
class ConvBlock:
    filters: list[int]
    kernel_size: int
    strides: int
    padding: str
    pool: bool
    dropout: float


@dataclass(frozen=True)
class TrainParams:
    seed: int
    deterministic: bool
    epochs: int
    batch_size: int
    learning_rate: float
    warmup_epochs: int
    label_smoothing: float
    width: float
    conv_blocks: list[ConvBlock]
    batch_norm: bool
    batch_norm_momentum: float
    dense_units: list[int]
    dense_dropout: float
    rotation_deg: float
    shift: float
    zoom: float
    monitor: str
    patience: int


def read_conv_block(b: common.Section) -> ConvBlock:
    block = ConvBlock(
        filters=b.int_list("filters"),
        kernel_size=b.int("kernel_size", lo=1),
        strides=b.int("strides", lo=1),
        padding=b.choice("padding", ("valid", "same")),
        pool=b.bool("pool"),
        dropout=b.float("dropout", lo=0, hi=1, hi_open=True),
    )
    b.check_no_unknown()
    return block


def read_params() -> TrainParams:
    s = common.load_section("train")
    params = TrainParams(
        seed=s.int("seed", lo=0),
        deterministic=s.bool("deterministic"),
        epochs=s.int("epochs", lo=1),
        batch_size=s.int("batch_size", lo=1),
        learning_rate=s.float("learning_rate", lo=0, hi=1, lo_open=True),
        warmup_epochs=s.int("warmup_epochs", lo=0),
        label_smoothing=s.float("label_smoothing", lo=0, hi=1, hi_open=True),
        width=s.float("model.width", lo=0, lo_open=True),
        conv_blocks=[read_conv_block(b) for b in s.sections("model.conv_blocks")],
        batch_norm=s.bool("model.batch_norm"),
        batch_norm_momentum=s.float("model.batch_norm_momentum", lo=0, hi=1, hi_open=True),
        dense_units=s.int_list("model.dense_units", allow_empty=True),
        dense_dropout=s.float("model.dense_dropout", lo=0, hi=1, hi_open=True),
        rotation_deg=s.float("augmentation.rotation_deg", lo=0, hi=180),
        shift=s.float("augmentation.shift", lo=0, hi=1, hi_open=True),
        zoom=s.float("augmentation.zoom", lo=0, hi=1, hi_open=True),
        monitor=s.choice("early_stopping.monitor", ("val_accuracy", "val_loss")),
        patience=s.int("early_stopping.patience", lo=1),
    )
    s.check_no_unknown()
    return params


def seed_everything(seed: int, deterministic: bool) -> None:
    """Same params, same model: seed Python, NumPy and TF, and optionally force deterministic TF ops."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def build_model(p: TrainParams) -> keras.Model:
    """Conv blocks (per filter count: conv [+BN] + ReLU; then 2x2 max pooling and dropout where the block asks),
    dense layers [+BN] + ReLU + dropout, softmax over 10 classes. Filter and unit counts are scaled by width."""
    def scaled(count: int) -> int:
        return max(1, round(count * p.width))

    def norm_relu() -> list[keras.layers.Layer]:
        norm = [keras.layers.BatchNormalization(momentum=p.batch_norm_momentum)] if p.batch_norm else []
        return [*norm, keras.layers.ReLU()]

    size = common.IMAGE_SIZE
    layers: list[keras.layers.Layer] = [keras.Input(shape=(size, size, 1), name="image")]
    for block in p.conv_blocks:
        for filters in block.filters:
            layers.append(keras.layers.Conv2D(scaled(filters), block.kernel_size, strides=block.strides,
                                              padding=block.padding, use_bias=not p.batch_norm))
            layers += norm_relu()
        if block.pool:
            layers.append(keras.layers.MaxPooling2D(2))
        if block.dropout:
            layers.append(keras.layers.Dropout(block.dropout))
    layers.append(keras.layers.Flatten())
    for units in p.dense_units:
        layers += [keras.layers.Dense(scaled(units), use_bias=not p.batch_norm), *norm_relu(),
                   keras.layers.Dropout(p.dense_dropout)]
    layers.append(keras.layers.Dense(common.NUM_CLASSES, activation="softmax", name="digit"))
    try:
        return keras.Sequential(layers, name="mnist_cnn")
    except ValueError as exc:
        raise common.PipelineError(
            f"train.model cannot be built ({str(exc).splitlines()[0]}); the conv blocks shrink the 28x28 image "
            "to nothing: use fewer blocks, smaller kernel_size or strides, pool: false or padding: same"
        )


def augmentation_layers(p: TrainParams) -> list[keras.layers.Layer]:
    """Random rotation, shift and zoom (those not set to 0), filling with the black background. Keras runs
    these layers only in training; main() puts them in front of the model for fit() and saves the model
    without them."""
    fill = {"fill_mode": "constant", "fill_value": 0.0}
    layers = []
    if p.rotation_deg:
        layers.append(keras.layers.RandomRotation(p.rotation_deg / 360.0, seed=p.seed, **fill))
    if p.shift:
        layers.append(keras.layers.RandomTranslation(p.shift, p.shift, seed=p.seed + 1, **fill))
    if p.zoom:
        layers.append(keras.layers.RandomZoom(p.zoom, seed=p.seed + 2, **fill))
    return layers


def make_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, shuffle: bool) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def learning_rate_schedule(p: TrainParams, steps_per_epoch: int) -> keras.optimizers.schedules.LearningRateSchedule:
    """Linear warm-up to learning_rate, then cosine decay to zero over the remaining epochs."""
    warmup = min(p.warmup_epochs, p.epochs - 1) * steps_per_epoch
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=p.learning_rate if warmup == 0 else p.learning_rate / 100,
        decay_steps=max(p.epochs * steps_per_epoch - warmup, 1),
        warmup_target=p.learning_rate if warmup else None,
        warmup_steps=warmup,
    )


def main() -> None:
    p = read_params()
    seed_everything(p.seed, p.deterministic)
    train_x, train_y = common.load_processed("train")
    val_x, val_y = common.load_processed("val")
    model = build_model(p)
    model.summary()
    trainer = keras.Sequential([*augmentation_layers(p), model], name="augmented_training")
    steps_per_epoch = -(-len(train_x) // p.batch_size)
    trainer.compile(
        optimizer=keras.optimizers.Adam(learning_rate_schedule(p, steps_per_epoch)),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=p.label_smoothing),
        metrics=["accuracy"],
    )
    early_stopping = keras.callbacks.EarlyStopping(
        monitor=p.monitor, mode="max" if p.monitor == "val_accuracy" else "min",
        patience=p.patience, restore_best_weights=True, verbose=1,
    )
    with Live(dir=str(common.TRAIN_LIVE_DIR), dvcyaml=False, save_dvc_exp=False) as live:
        started = time.perf_counter()
        history = trainer.fit(
            make_dataset(train_x, train_y, p.batch_size, p.seed, shuffle=True),
            validation_data=make_dataset(val_x, val_y, 1024, p.seed, shuffle=False),
            epochs=p.epochs, shuffle=False,  # make_dataset shuffles
            callbacks=[early_stopping, DVCLiveCallback(live=live)], verbose=2,
        )
        live.summary["train_time_s"] = round(time.perf_counter() - started, 1)
        live.summary["epochs_run"] = len(history.history["loss"])
        live.summary["best_epoch"] = early_stopping.best_epoch + 1
        live.summary["best_epoch_val_accuracy"] = float(history.history["val_accuracy"][early_stopping.best_epoch])
    with common.atomic_path(common.MODEL_PATH) as tmp:
        model.save(tmp, include_optimizer=False)
    common.write_json(common.ENVIRONMENT_PATH, environment.describe())
    print(f"saved {common.MODEL_PATH.relative_to(common.ROOT)}; best epoch {live.summary['best_epoch']}, "
          f"val accuracy {live.summary['best_epoch_val_accuracy']:.4f}, {live.summary['train_time_s']} s")


if __name__ == "__main__":
    sys.exit(common.run(main))

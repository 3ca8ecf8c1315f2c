"""Train stage: fit the CNN on the training split, early-stopping on the validation split.

Reads: data/processed/{train,val}.npz and params.yaml `train`. With `train.workers` > 1 it starts that many
       copies of itself as one MultiWorkerMirroredStrategy cluster on localhost (stages/workers.py); worker 0,
       the chief, alone writes.
Writes: models/model.h5 (HDF5, float32 whatever `train.precision` trained it; `keras.models.load_model` loads
        it with no custom objects); through
        dvclive, metrics/train/: per-epoch loss and accuracy for train and validation under plots/metrics/
        (DVC plots data) and metrics.json (last epoch, epochs run, the best epoch (counted from 1) and its
        validation accuracy, training wall time); and metrics/train/environment.json (CPU, instruction sets,
        versions, threads: what the figures depend on besides params). The test set is never read here.
"""

from __future__ import annotations

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from dvclive import Live  # noqa: E402
from dvclive.keras import DVCLiveCallback  # noqa: E402

from stages import common, environment, params, workers  # noqa: E402


def seed_everything(seed: int, deterministic: bool) -> None:
    """Same params, same model: seed Python, NumPy and TF, and optionally force deterministic TF ops."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def build_model(p: params.Train) -> keras.Model:
    """Conv blocks (per filter count: conv [+BN] + ReLU; then 2x2 max pooling and dropout where the block asks),
    dense layers [+BN] + ReLU + dropout, softmax over 10 classes. Filter and unit counts are scaled by width."""

    def scaled(count: int) -> int:
        return max(1, round(count * p.model.width))

    def norm_relu() -> list[keras.layers.Layer]:
        norm = [keras.layers.BatchNormalization(momentum=p.model.batch_norm_momentum)] if p.model.batch_norm else []
        return [*norm, keras.layers.ReLU()]

    size = common.IMAGE_SIZE
    layers: list[keras.layers.Layer] = [keras.Input(shape=(size, size, 1), name="image")]
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
    layers.append(keras.layers.Dense(common.NUM_CLASSES, activation="softmax", name="digit", dtype="float32"))
    try:
        return keras.Sequential(layers, name="mnist_cnn")
    except ValueError as exc:
        raise common.UserError(
            f"train.model cannot be built ({str(exc).splitlines()[0]}); the conv blocks shrink the 28x28 image "
            "to nothing: use fewer blocks, smaller kernel_size or strides, pool: false or padding: same"
        )


def float32_copy(p: params.Train, model: keras.Model) -> keras.Model:
    """The trained model as a float32 one, for saving: under mixed_bfloat16 its weights are float32 already, but
    its layers would compute in bfloat16 wherever the .h5 is loaded (slow on a CPU without AMX, and less exact)."""
    if p.precision == "float32":
        return model
    keras.mixed_precision.set_dtype_policy("float32")
    copy = build_model(p)
    copy.set_weights(model.get_weights())
    return copy


def augmentation_layers(p: params.Train) -> list[keras.layers.Layer]:
    """Random rotation, shift and zoom (those not set to 0), filling with the black background. Keras runs
    these layers only in training; main() puts them in front of the model for fit() and saves the model
    without them."""
    fill = {"fill_mode": "constant", "fill_value": 0.0}
    layers = []
    aug = p.augmentation
    if aug.rotation_deg:
        layers.append(keras.layers.RandomRotation(aug.rotation_deg / 360.0, seed=p.seed, **fill))
    if aug.shift:
        layers.append(keras.layers.RandomTranslation(aug.shift, aug.shift, seed=p.seed + 1, **fill))
    if aug.zoom:
        layers.append(keras.layers.RandomZoom(aug.zoom, seed=p.seed + 2, **fill))
    return layers


def make_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, shuffle: bool) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def learning_rate_schedule(p: params.Train, steps_per_epoch: int) -> keras.optimizers.schedules.LearningRateSchedule:
    """Linear warm-up to learning_rate, then cosine decay to zero over the remaining epochs."""
    warmup = min(p.warmup_epochs, p.epochs - 1) * steps_per_epoch
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=p.learning_rate if warmup == 0 else p.learning_rate / 100,
        decay_steps=max(p.epochs * steps_per_epoch - warmup, 1),
        warmup_target=p.learning_rate if warmup else None,
        warmup_steps=warmup,
    )


class ClusterTrainer(keras.Sequential):
    """The trainer for a MultiWorkerMirroredStrategy cluster. Keras 3.15's fit() fails there (keras-team/keras
    #20585): it reduces a whole (x, y) batch across workers to build the model, and reduces scalar metrics
    along axis 0. This builds from the local batch and gives the metrics an axis; the model saved is the plain
    one inside, so no custom object reaches the .h5."""

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = keras.tree.map_structure(
                    lambda v: self.distribute_strategy.experimental_local_results(v)[0], next(batches)
                )
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def train_step(self, data):
        return {name: tf.reshape(value, [1]) for name, value in super().train_step(data).items()}

    def test_step(self, data):
        return {name: tf.reshape(value, [1]) for name, value in super().test_step(data).items()}


def compile_trainer(p: params.Train, model: keras.Model, steps_per_epoch: int, cluster: bool) -> keras.Sequential:
    """The model behind the augmentation layers, compiled: what fit() trains (the model alone is saved)."""
    trainer = (ClusterTrainer if cluster else keras.Sequential)(
        [*augmentation_layers(p), model], name="augmented_training"
    )
    trainer.compile(
        optimizer=keras.optimizers.Adam(learning_rate_schedule(p, steps_per_epoch)),
        loss=keras.losses.CategoricalCrossentropy(label_smoothing=p.label_smoothing),
        metrics=["accuracy"],
    )
    return trainer


def shard_by_element(ds: tf.data.Dataset) -> tf.data.Dataset:
    """In a cluster, each worker takes its share of every global batch (in-memory data has no files to split)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def main() -> None:
    p = params.load(params.Train)
    if p.workers > 1 and not workers.in_cluster():
        workers.run_local(p.workers, ["-m", "stages.train"])
        return
    cluster, chief = workers.in_cluster(), workers.is_chief()
    strategy = tf.distribute.MultiWorkerMirroredStrategy() if cluster else tf.distribute.get_strategy()
    seed_everything(p.seed, p.deterministic)
    keras.mixed_precision.set_dtype_policy(p.precision)
    train_x, train_y = common.load_processed("train")
    val_x, val_y = common.load_processed("val")
    with strategy.scope():
        model = build_model(p)
        if chief:
            model.summary()
        trainer = compile_trainer(p, model, steps_per_epoch=-(-len(train_x) // p.batch_size), cluster=cluster)
    early_stopping = keras.callbacks.EarlyStopping(
        monitor=p.early_stopping.monitor,
        mode="max" if p.early_stopping.monitor == "val_accuracy" else "min",
        patience=p.early_stopping.patience,
        restore_best_weights=True,
        verbose=int(chief),
    )
    train_data = make_dataset(train_x, train_y, p.batch_size, p.seed, shuffle=True)
    val_data = make_dataset(val_x, val_y, 1024, p.seed, shuffle=False)
    if cluster:
        train_data, val_data = shard_by_element(train_data), shard_by_element(val_data)

    def fit(callbacks: list, verbose: int) -> keras.callbacks.History:
        return trainer.fit(
            train_data,
            validation_data=val_data,
            epochs=p.epochs,
            shuffle=False,  # make_dataset shuffles
            callbacks=[early_stopping, *callbacks],
            verbose=verbose,
        )

    if not chief:  # trains its share in lockstep with the chief, which alone writes
        fit([], verbose=0)
        return
    with Live(dir=str(common.TRAIN_LIVE_DIR), dvcyaml=False, save_dvc_exp=False) as live:
        started = time.perf_counter()
        history = fit([DVCLiveCallback(live=live)], verbose=2)
        live.summary["train_time_s"] = round(time.perf_counter() - started, 1)
        live.summary["epochs_run"] = len(history.history["loss"])
        live.summary["best_epoch"] = early_stopping.best_epoch + 1
        live.summary["best_epoch_val_accuracy"] = float(history.history["val_accuracy"][early_stopping.best_epoch])
    with common.atomic_path(common.MODEL_PATH) as tmp:
        float32_copy(p, model).save(tmp, include_optimizer=False)
    common.write_json(common.ENVIRONMENT_PATH, environment.describe())
    print(
        f"saved {common.MODEL_PATH.relative_to(common.ROOT)}; best epoch {live.summary['best_epoch']}, "
        f"val accuracy {live.summary['best_epoch_val_accuracy']:.4f}, {live.summary['train_time_s']} s"
    )


if __name__ == "__main__":
    sys.exit(common.run(main))

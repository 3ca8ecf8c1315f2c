"""Fitting the model: seeding, augmentation, the input pipeline, the learning-rate schedule and fit() with early
stopping on the validation split, in one process or as a worker of a MultiWorkerMirroredStrategy cluster
(classifier.cluster starts the local ones)."""

from __future__ import annotations

import time

import keras
import numpy as np
import tensorflow as tf
from dvclive import Live
from dvclive.keras import DVCLiveCallback

from classifier import cluster, files, paths
from classifier.model import build_model
from classifier.params.dataset import Dataset
from classifier.params.train import Train


def seed_everything(seed: int, deterministic: bool) -> None:
    """Same params, same model: seed Python, NumPy and TF, and optionally force deterministic TF ops."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def augmentation_layers(p: Train) -> list[keras.layers.Layer]:
    """Random rotation, shift and zoom (those not set to 0), filling with the black background, and left-right
    mirroring where asked. Keras runs these layers only in training; compile_trainer puts them in front of the
    model for fit(), and the model is saved without them."""
    fill = {"fill_mode": "constant", "fill_value": 0.0}
    layers = []
    aug = p.augmentation
    if aug.rotation_deg:
        layers.append(keras.layers.RandomRotation(aug.rotation_deg / 360.0, seed=p.seed, **fill))
    if aug.shift:
        layers.append(keras.layers.RandomTranslation(aug.shift, aug.shift, seed=p.seed + 1, **fill))
    if aug.zoom:
        layers.append(keras.layers.RandomZoom(aug.zoom, seed=p.seed + 2, **fill))
    if aug.horizontal_flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=p.seed + 3))
    return layers


def make_dataset(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, shuffle: bool) -> tf.data.Dataset:
    ds = tf.data.Dataset.from_tensor_slices((x, y))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def learning_rate_schedule(p: Train, steps_per_epoch: int) -> keras.optimizers.schedules.LearningRateSchedule:
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


def compile_trainer(p: Train, model: keras.Model, steps_per_epoch: int, in_cluster: bool) -> keras.Sequential:
    """The model behind the augmentation layers, compiled: what fit() trains (the model alone is saved)."""
    trainer = (ClusterTrainer if in_cluster else keras.Sequential)(
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


def train(p: Train, d: Dataset) -> keras.Model | None:
    """Fit a model on the training split, early-stopping on the validation split; log the per-epoch history and
    the summary to metrics/train/ through dvclive. In a cluster, every worker trains its share in lockstep and
    only the chief gets the model (the others get None)."""
    in_cluster, chief = cluster.in_cluster(), cluster.is_chief()
    strategy = tf.distribute.MultiWorkerMirroredStrategy() if in_cluster else tf.distribute.get_strategy()
    seed_everything(p.seed, p.deterministic)
    keras.mixed_precision.set_dtype_policy(p.precision)
    train_x, train_y = files.load_processed("train")
    val_x, val_y = files.load_processed("val")
    with strategy.scope():
        model = build_model(p, d)
        if chief:
            model.summary()
        trainer = compile_trainer(p, model, steps_per_epoch=-(-len(train_x) // p.batch_size), in_cluster=in_cluster)
    early_stopping = keras.callbacks.EarlyStopping(
        monitor=p.early_stopping.monitor,
        mode="max" if p.early_stopping.monitor == "val_accuracy" else "min",
        patience=p.early_stopping.patience,
        restore_best_weights=True,
        verbose=int(chief),
    )
    train_data = make_dataset(train_x, train_y, p.batch_size, p.seed, shuffle=True)
    val_data = make_dataset(val_x, val_y, 1024, p.seed, shuffle=False)
    if in_cluster:
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
        return None
    with Live(dir=str(paths.TRAIN_LIVE_DIR), dvcyaml=False, save_dvc_exp=False) as live:
        started = time.perf_counter()
        history = fit([DVCLiveCallback(live=live)], verbose=2)
        live.summary["train_time_s"] = round(time.perf_counter() - started, 1)
        live.summary["epochs_run"] = len(history.history["loss"])
        live.summary["best_epoch"] = early_stopping.best_epoch + 1
        live.summary["best_epoch_val_accuracy"] = float(history.history["val_accuracy"][early_stopping.best_epoch])
    print(
        f"best epoch {live.summary['best_epoch']}, val accuracy {live.summary['best_epoch_val_accuracy']:.4f}, "
        f"{live.summary['train_time_s']} s"
    )
    return model

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
from classifier.model import averaged, build_model, member_name
from classifier.params.dataset import Dataset
from classifier.params.train import Train


def seed_everything(seed: int, deterministic: bool) -> None:
    """Same params, same model: seed Python, NumPy and TF, and optionally force deterministic TF ops."""
    keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


class ElasticDistortion(keras.layers.Layer):
    """Simard et al.'s elastic distortion (2003) of a batch of images (batch, height, width, channels): each image
    resampled, bilinearly, through its own smooth random displacement field: uniform noise in [-1, 1] per pixel
    and axis, blurred by a Gaussian of SIGMA pixels and scaled by `alpha` (at their 34, a pixel away from the
    border moves about 1.4 pixels root mean square along each axis). Outside the image is black. Keras 3.15's
    RandomElasticTransform is not this: it moves every pixel along the diagonal (docs/experiments.md, round 7)."""

    SIGMA = 4.0  # the blur's standard deviation in pixels: Simard et al.'s, for 28x28 digits

    def __init__(self, alpha: float, seed: int, **kwargs):
        super().__init__(**kwargs)
        self.alpha = alpha
        self.seed_generator = keras.random.SeedGenerator(seed)
        offsets = np.arange(-3 * self.SIGMA, 3 * self.SIGMA + 1)
        gaussian = np.exp(-0.5 * (offsets / self.SIGMA) ** 2)
        # The blur as two depthwise filters, down the rows then along the columns, for both axes' noise at once.
        down_rows = np.tile((gaussian / gaussian.sum()).astype(np.float32).reshape(-1, 1, 1, 1), (1, 1, 2, 1))
        self._blur = (down_rows, down_rows.transpose(1, 0, 2, 3))

    def call(self, images, training=False):
        if not training:
            return images
        shape = tf.shape(images)
        batch, height, width = shape[0], shape[1], shape[2]
        field = keras.random.uniform([batch, height, width, 2], -1.0, 1.0, seed=self.seed_generator)
        for blur in self._blur:
            field = tf.nn.depthwise_conv2d(field, blur, [1, 1, 1, 1], "SAME")
        # Sample at (row + dy, column + dx) from the image framed by one black pixel; a point past the frame
        # lands on it, so it reads black.
        framed = tf.pad(tf.cast(images, tf.float32), [[0, 0], [1, 1], [1, 1], [0, 0]])
        rows = tf.cast(tf.range(height), tf.float32)[None, :, None] + self.alpha * field[..., 0] + 1
        cols = tf.cast(tf.range(width), tf.float32)[None, None, :] + self.alpha * field[..., 1] + 1
        top = tf.floor(tf.clip_by_value(rows, 0.0, tf.cast(height, tf.float32)))
        left = tf.floor(tf.clip_by_value(cols, 0.0, tf.cast(width, tf.float32)))
        down = tf.clip_by_value(rows - top, 0.0, 1.0)[..., None]
        right = tf.clip_by_value(cols - left, 0.0, 1.0)[..., None]
        stride = width + 2
        corner = (
            tf.range(batch)[:, None, None] * (height + 2) * stride
            + tf.cast(top, tf.int32) * stride
            + tf.cast(left, tf.int32)
        )
        pixels = tf.reshape(framed, [-1, shape[3]])  # one row per pixel, one column per channel
        at = [tf.gather(pixels, corner + offset) for offset in (0, 1, stride, stride + 1)]
        warped = (1 - down) * ((1 - right) * at[0] + right * at[1]) + down * ((1 - right) * at[2] + right * at[3])
        return tf.cast(warped, images.dtype)

    def compute_output_shape(self, input_shape):
        return input_shape


def augmentation_layers(p: Train) -> list[keras.layers.Layer]:
    """Random rotation, shift and zoom (those not set to 0), filling with the black background, elastic
    distortion, left-right mirroring and random erasing (a black rectangle) where asked. Keras runs these layers
    only in training; compile_trainer puts them in front of the model for fit(), and the model is saved without
    them."""
    fill = {"fill_mode": "constant", "fill_value": 0.0}
    layers = []
    aug = p.augmentation
    if aug.rotation_deg:
        layers.append(keras.layers.RandomRotation(aug.rotation_deg / 360.0, seed=p.seed, **fill))
    if aug.shift:
        layers.append(keras.layers.RandomTranslation(aug.shift, aug.shift, seed=p.seed + 1, **fill))
    if aug.zoom:
        layers.append(keras.layers.RandomZoom(aug.zoom, seed=p.seed + 2, **fill))
    if aug.elastic:  # seed + 5: the other layers keep the seeds they had before this one was added
        layers.append(ElasticDistortion(aug.elastic, seed=p.seed + 5))
    if aug.horizontal_flip:
        layers.append(keras.layers.RandomFlip("horizontal", seed=p.seed + 3))
    if aug.erasing:
        layers.append(
            keras.layers.RandomErasing(
                aug.erasing, scale=(0.02, 0.25), fill_value=0.0, value_range=(0, 1), seed=p.seed + 4
            )
        )
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


def member_params(p: Train, index: int) -> Train:
    """The params of an ensemble's member `index` (from 0): the same but the seed, seed + 1000 * index, so member 0
    is the single model of the same params, and the members of seeds 1 and 2 share none."""
    return p.model_copy(update={"seed": p.seed + 1000 * index})


def train(p: Train, d: Dataset) -> list[keras.Model] | None:
    """Fit `train.ensemble` models in turn on the training split, each early-stopping on the validation split; log
    their per-epoch history (one member after another) and the summary to metrics/train/ through dvclive. In a
    cluster, every worker trains its share in lockstep and only the chief gets the models (the others get None)."""
    in_cluster, chief = cluster.in_cluster(), cluster.is_chief()
    strategy = tf.distribute.MultiWorkerMirroredStrategy() if in_cluster else tf.distribute.get_strategy()
    train_x, train_y = files.load_processed("train")
    val_x, val_y = files.load_processed("val")

    def fit(index: int, callbacks: list, verbose: int) -> tuple[keras.Model, keras.callbacks.EarlyStopping, dict]:
        member = member_params(p, index)
        seed_everything(member.seed, p.deterministic)
        keras.mixed_precision.set_dtype_policy(p.precision)
        with strategy.scope():
            model = build_model(member, d, name="mnist_cnn" if p.ensemble == 1 else member_name(index))
            if chief and index == 0:
                model.summary()
            trainer = compile_trainer(
                member, model, steps_per_epoch=-(-len(train_x) // p.batch_size), in_cluster=in_cluster
            )
        early_stopping = keras.callbacks.EarlyStopping(
            monitor=p.early_stopping.monitor,
            mode="max" if p.early_stopping.monitor == "val_accuracy" else "min",
            patience=p.early_stopping.patience,
            restore_best_weights=True,
            verbose=int(chief),
        )
        train_data = make_dataset(train_x, train_y, p.batch_size, member.seed, shuffle=True)
        val_data = make_dataset(val_x, val_y, 1024, member.seed, shuffle=False)
        if in_cluster:
            train_data, val_data = shard_by_element(train_data), shard_by_element(val_data)
        history = trainer.fit(
            train_data,
            validation_data=val_data,
            epochs=p.epochs,
            shuffle=False,  # make_dataset shuffles
            callbacks=[early_stopping, *callbacks],
            verbose=verbose,
        )
        return model, early_stopping, history.history

    if not chief:  # trains its share in lockstep with the chief, which alone writes
        for index in range(p.ensemble):
            fit(index, [], verbose=0)
        return None
    members, summaries = [], {}
    with Live(dir=str(paths.TRAIN_LIVE_DIR), dvcyaml=False, save_dvc_exp=False) as live:
        started = time.perf_counter()
        for index in range(p.ensemble):
            model, early_stopping, history = fit(index, [DVCLiveCallback(live=live)], verbose=2)
            members.append(model)
            summaries[str(index + 1)] = {
                "epochs_run": len(history["loss"]),
                "best_epoch": early_stopping.best_epoch + 1,
                "best_epoch_val_accuracy": float(history["val_accuracy"][early_stopping.best_epoch]),
            }
        live.summary["train_time_s"] = round(time.perf_counter() - started, 1)
        if p.ensemble == 1:
            live.summary.update(summaries["1"])
        else:
            live.summary["epochs_run"] = sum(member["epochs_run"] for member in summaries.values())
            live.summary["ensemble_val_accuracy"] = accuracy(averaged(members, d), val_x, val_y)
            live.summary["members"] = summaries
    validated = live.summary.get("ensemble_val_accuracy", live.summary.get("best_epoch_val_accuracy"))
    print(f"validation accuracy {validated:.4f} ({p.ensemble} model(s)), {live.summary['train_time_s']} s")
    return members


def accuracy(model: keras.Model, x: np.ndarray, y: np.ndarray) -> float:
    """The share of the one-hot labels `y` that `model` classifies right."""
    return float(np.mean(model.predict(x, batch_size=1024, verbose=0).argmax(axis=1) == y.argmax(axis=1)))

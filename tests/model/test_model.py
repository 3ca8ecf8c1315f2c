"""Model: the built network follows the params, learns a tiny set, survives the HDF5 round trip, and
ignores augmentation at inference."""

import random
import re

import keras
import numpy as np
import onnx
import pytest
import tensorflow as tf
import yaml

from classifier import errors, inference, onnx_export, paths, splits, training
from classifier.model import averaged, build_model, float32_copy, member_name
from classifier.params import checks, sections
from classifier.params.overrides import changed
from tests.support import synthetic
from tests.support.models import onnx_file
from tests.support.synthetic import MNIST


def block(filters, kernel_size, strides, padding, pool, dropout):
    return {
        "filters": filters,
        "kernel_size": kernel_size,
        "strides": strides,
        "padding": padding,
        "pool": pool,
        "dropout": dropout,
    }


def count(model, kind):
    return sum(isinstance(layer, kind) for layer in model.layers)


def test_layers_follow_the_params(train_params):
    p = changed(
        train_params,
        **{
            "model.width": 0.5,
            "model.dense_units": [128, 64],
            "model.batch_norm": True,
            "model.batch_norm_momentum": 0.8,
            "model.conv_blocks": [
                block([16, 16], 5, 2, "valid", pool=False, dropout=0.0),
                block([32], 3, 1, "same", pool=True, dropout=0.2),
                block([48, 48], 3, 1, "same", pool=True, dropout=0.25),
            ],
        },
    )
    model = build_model(p, MNIST)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [8, 8, 16, 24, 24]
    assert [c.kernel_size[0] for c in convs] == [5, 5, 3, 3, 3]
    assert [c.strides[0] for c in convs] == [2, 2, 1, 1, 1]
    assert count(model, keras.layers.MaxPooling2D) == 2
    norms = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(norms) == 5 + 2 and all(n.momentum == 0.8 for n in norms)
    dropouts = [layer.rate for layer in model.layers if isinstance(layer, keras.layers.Dropout)]
    assert dropouts == [0.2, 0.25, p.model.dense_dropout, p.model.dense_dropout]
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [d.units for d in dense] == [64, 32, 10]
    assert dense[-1].activation is keras.activations.softmax
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    plain = build_model(changed(p, **{"model.batch_norm": False}), MNIST)
    assert count(plain, keras.layers.BatchNormalization) == 0


def test_strides_padding_and_pooling_set_the_feature_map_sizes(train_params):
    p = changed(
        train_params,
        **{
            "model.conv_blocks": [
                block([8], 5, 2, "valid", pool=False, dropout=0.0),
                block([8], 3, 1, "same", pool=True, dropout=0.0),
                block([8], 3, 1, "valid", pool=False, dropout=0.0),
            ]
        },
    )
    model = build_model(p, MNIST)
    assert [layer.output.shape[1] for layer in model.layers if isinstance(layer, keras.layers.Conv2D)] == [12, 12, 4]


def test_a_model_that_shrinks_the_image_to_nothing_is_a_clear_error(train_params):
    shrinking = block([8, 8], 3, 1, "valid", pool=True, dropout=0.2)
    with pytest.raises(errors.UserError, match="padding: same"):
        build_model(changed(train_params, **{"model.conv_blocks": [shrinking] * 4}), MNIST)


@pytest.mark.parametrize(
    "change, expected",
    [
        (
            {"filters": []},
            "train.model.conv_blocks.1.filters must be a non-empty list of integers >= 1, got []; "
            "fix it in params.yaml or with `dvc exp run -S train.model.conv_blocks.1.filters=...`",
        ),
        ({"pool": "yes"}, "train.model.conv_blocks.1.pool must be true or false"),
        ({"stride": 2}, "unknown parameter train.model.conv_blocks.1.stride"),
    ],
)
def test_a_bad_conv_block_names_its_index_and_field(tmp_path, monkeypatch, train_values, change, expected):
    train_values["model"]["conv_blocks"][1].update(change)
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump({"train": train_values}))
    monkeypatch.setattr(paths, "PARAMS_PATH", path)
    with pytest.raises(errors.UserError, match=re.escape(expected)):
        checks.load(sections.Train)


def test_trains_on_a_tiny_set_and_reloads_from_h5(train_params, tmp_path):
    p = train_params
    training.seed_everything(p.seed, p.deterministic)
    x, y = splits.to_model_inputs(*synthetic.digits(300, seed=3), 10)
    model = build_model(p, MNIST)
    model.compile(
        optimizer=keras.optimizers.Adam(training.learning_rate_schedule(p, 10)),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    history = model.fit(
        training.make_dataset(x, y, p.batch_size, p.seed, shuffle=True), epochs=p.epochs, shuffle=False, verbose=0
    )
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0], losses
    path = tmp_path / "model.h5"
    model.save(path, include_optimizer=False)
    reloaded = keras.models.load_model(path, compile=False)
    np.testing.assert_allclose(reloaded.predict(x[:50], verbose=0), model.predict(x[:50], verbose=0), atol=1e-5)
    test_x, test_y = splits.to_model_inputs(*synthetic.digits(100, seed=4), 10)
    accuracy = (reloaded.predict(test_x, verbose=0).argmax(1) == test_y.argmax(1)).mean()
    assert accuracy > 0.9
    shifted = np.roll(test_x, 1, axis=2)
    same = (reloaded.predict(shifted, verbose=0).argmax(1) == test_y.argmax(1)).mean()
    assert same > 0.9, "a one-pixel shift keeps the prediction"
    compiled = inference.Classifier(onnx_file(tmp_path / "model.onnx", reloaded))(test_x, batch_size=7)
    np.testing.assert_allclose(compiled, reloaded.predict(test_x, verbose=0), atol=1e-5)
    assert (compiled.argmax(1) == reloaded.predict(test_x, verbose=0).argmax(1)).all()


def test_the_export_folds_batch_norm_into_the_layer_before_and_answers_as_predict(train_params, tmp_path):
    model = build_model(train_params, MNIST)
    rng = np.random.default_rng(0)
    for layer in model.layers:  # statistics far from the initial ones (mean 0, variance 1, gamma 1, beta 0)
        if isinstance(layer, keras.layers.BatchNormalization):
            channels = layer.gamma.shape
            layer.set_weights(
                [
                    rng.uniform(0.5, 2, channels),
                    rng.normal(0, 0.5, channels),
                    rng.normal(0, 2, channels),
                    rng.uniform(0.1, 4, channels),
                ]
            )
    folded = onnx_export.batch_norm_folded(model)
    assert count(model, keras.layers.BatchNormalization) > 0
    assert count(folded, keras.layers.BatchNormalization) == 0
    assert count(folded, keras.layers.Conv2D) == count(model, keras.layers.Conv2D)
    x, _ = splits.to_model_inputs(*synthetic.digits(64, seed=5), 10)
    expected = model.predict(x, verbose=0)
    classify = inference.Classifier(onnx_file(tmp_path / "model.onnx", model))
    np.testing.assert_allclose(classify(x, batch_size=16), expected, atol=1e-5)
    unnormalised = build_model(changed(train_params, **{"model.batch_norm": False}), MNIST)
    assert onnx_export.batch_norm_folded(unnormalised).count_params() == unnormalised.count_params()


def test_an_ensembles_onnx_bytes_follow_its_graph_not_tf2onnxs_order_of_the_members(train_params):
    data = onnx_export.to_onnx(
        averaged([build_model(train_params, MNIST, member_name(i)) for i in range(2)], MNIST), MNIST.classes
    )
    model = onnx.load_from_string(data)
    nodes = [onnx.NodeProto.FromString(node.SerializeToString()) for node in model.graph.node]
    random.Random(0).shuffle(nodes)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    onnx_export.canonical_order(model.graph)
    onnx_export.canonical_names(model.graph)
    assert model.SerializeToString(deterministic=True) == data


def test_a_bfloat16_trained_model_is_saved_as_float32(train_params):
    p = changed(train_params, precision="mixed_bfloat16")
    keras.mixed_precision.set_dtype_policy(p.precision)
    try:
        model = build_model(p, MNIST)
        assert model.layers[0].compute_dtype == "bfloat16" and model.layers[-1].compute_dtype == "float32"
        saved = float32_copy(p, MNIST, model)
    finally:
        keras.mixed_precision.set_dtype_policy("float32")
    assert {layer.compute_dtype for layer in saved.layers} == {"float32"}
    for original, copied in zip(model.get_weights(), saved.get_weights(), strict=True):
        np.testing.assert_array_equal(original, copied)


def test_augmentation_moves_pixels_in_training_only(train_params):
    p = changed(train_params, **{"augmentation.rotation_deg": 15, "augmentation.shift": 0.1, "augmentation.zoom": 0.1})
    augmenter = keras.Sequential(training.augmentation_layers(p))
    x, _ = splits.to_model_inputs(*synthetic.digits(16), 10)
    augmented = np.asarray(augmenter(x, training=True))
    assert augmented.shape == x.shape
    assert np.abs(augmented - x).mean() > 0.01
    assert augmented.min() >= 0.0 and augmented.max() <= 1.0 + 1e-6
    np.testing.assert_array_equal(np.asarray(augmenter(x, training=False)), x)
    assert [
        type(layer).__name__ for layer in training.augmentation_layers(changed(p, **{"augmentation.rotation_deg": 0}))
    ] == ["RandomTranslation", "RandomZoom"], "a transformation set to 0 costs nothing"


def test_random_erasing_blacks_out_one_rectangle_in_about_the_share_asked(train_params):
    p = changed(train_params, **{f"augmentation.{name}": 0 for name in ("rotation_deg", "shift", "zoom")})
    [eraser] = training.augmentation_layers(changed(p, **{"augmentation.erasing": 0.6}))
    x = np.ones((2000, 28, 28, 1), np.float32)
    erased = 1 - np.asarray(eraser(x, training=True)).reshape(len(x), -1).mean(axis=1)
    assert 0.25 < (erased > 0).mean() < 0.35, "a chance drawn from [0, 0.6] per image: 0.3 on average"
    assert erased[erased > 0].min() >= 0.02 * 0.9 and erased.max() <= 0.25 * 1.1, "2-25% of the image"
    images = np.asarray(eraser(x[:64], training=True))[..., 0]
    for black in images[(images == 0).any(axis=(1, 2))] == 0:
        rows, cols = np.nonzero(black)
        assert black.sum() == (np.ptp(rows) + 1) * (np.ptp(cols) + 1), "one black rectangle"
    np.testing.assert_array_equal(np.asarray(eraser(x, training=False)), x)


def test_elastic_distortion_moves_each_pixel_its_own_smooth_way_in_training_only(train_params):
    p = changed(train_params, **{f"augmentation.{name}": 0 for name in ("rotation_deg", "shift", "zoom")})
    [elastic] = training.augmentation_layers(changed(p, **{"augmentation.elastic": 34}))
    columns = np.broadcast_to(np.arange(28, dtype=np.float32)[None, :, None], (28, 28, 1)) / 100
    ramps = np.stack([np.concatenate([columns, columns.transpose(1, 0, 2)], axis=-1)] * 128)  # column, row
    distort = tf.function(  # as fit() runs it: in a graph, the batch size unknown until it runs
        lambda images: elastic(images, training=True), input_signature=[tf.TensorSpec([None, 28, 28, 2])]
    )
    moved = (np.asarray(distort(ramps)) - ramps)[:, 6:22, 6:22] * 100  # in pixels, away from the border
    dx, dy = moved[..., 0], moved[..., 1]  # one field per image: its channels move together
    assert 1.0 < np.sqrt((dx**2).mean()) < 1.8 and 1.0 < np.sqrt((dy**2).mean()) < 1.8, "Simard's 34: ~1.4 px"
    assert abs(dx.mean()) < 0.3 and abs(dy.mean()) < 0.3, "no drift: the image is not shifted as a whole"
    assert np.abs(np.diff(dx, axis=2)).mean() < 0.3 * np.abs(dx).mean(), "a smooth field, not per-pixel noise"
    assert abs(np.corrcoef(dx.ravel(), dy.ravel())[0, 1]) < 0.3, "across and down move independently"
    assert np.abs(dx[0] - dx[1]).mean() > 0.5 * np.abs(dx).mean(), "each image has its own field"
    digits, _ = splits.to_model_inputs(*synthetic.digits(16), 10)
    distorted = np.asarray(elastic(digits, training=True))
    assert distorted.min() >= 0 and distorted.max() <= 1 and np.abs(distorted - digits).mean() > 0.01
    np.testing.assert_allclose(distorted.sum(axis=(1, 2, 3)), digits.sum(axis=(1, 2, 3)), rtol=0.25)
    white = np.asarray(elastic(np.ones((8, 28, 28, 1), np.float32), training=True))
    assert white[:, 6:22, 6:22].min() > 0.999 and white[:, [0, -1]].min() < 0.95, "black only from outside"
    np.testing.assert_array_equal(np.asarray(elastic(digits, training=False)), digits)
    still = training.ElasticDistortion(0.0, seed=1)  # alpha 0: each pixel sampled exactly where it is
    np.testing.assert_array_equal(np.asarray(still(digits, training=True)), digits)


def test_learning_rate_warms_up_then_decays(train_params):
    p = changed(train_params, epochs=4, warmup_epochs=1, learning_rate=0.01)
    schedule = training.learning_rate_schedule(p, steps_per_epoch=10)
    rates = [float(schedule(step)) for step in (0, 10, 25, 40)]
    assert rates[0] < rates[1] == pytest.approx(0.01)
    assert rates[1] > rates[2] > rates[3] >= 0

"""Model: the built network follows the params, learns a tiny set, survives the HDF5 round trip, and
ignores augmentation at inference."""
import dataclasses

import keras
import numpy as np
import pytest

from stages import common, preprocess, train
from tests import synthetic


@pytest.fixture(scope="module")
def params():
    return train.read_params()


def small(params, **changes):
    base = dict(filters=[8, 16], convs_per_block=1, dense_units=[32], batch_size=32, epochs=6,
                learning_rate=0.01, warmup_epochs=0)
    return dataclasses.replace(params, **{**base, **changes})


def count(model, kind):
    return sum(isinstance(layer, kind) for layer in model.layers)


def test_layers_follow_the_params(params):
    p = dataclasses.replace(params, filters=[8, 16, 24], convs_per_block=2, dense_units=[64, 32],
                            padding="same", batch_norm=True)
    model = train.build_model(p)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert [c.filters for c in convs] == [8, 8, 16, 16, 24, 24]
    assert all(c.kernel_size == (p.kernel_size, p.kernel_size) for c in convs)
    assert count(model, keras.layers.MaxPooling2D) == 3
    assert count(model, keras.layers.BatchNormalization) == 6 + 2
    assert count(model, keras.layers.Dropout) == 3 + 2
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [d.units for d in dense] == [64, 32, 10]
    assert dense[-1].activation is keras.activations.softmax
    assert model.input_shape == (None, 28, 28, 1) and model.output_shape == (None, 10)
    plain = train.build_model(dataclasses.replace(p, batch_norm=False))
    assert count(plain, keras.layers.BatchNormalization) == 0


def test_a_model_that_shrinks_the_image_to_nothing_is_a_clear_error(params):
    with pytest.raises(common.PipelineError, match="padding: same"):
        train.build_model(dataclasses.replace(params, filters=[8, 8, 8, 8], convs_per_block=2, padding="valid"))


def test_trains_on_a_tiny_set_and_reloads_from_h5(params, tmp_path):
    p = small(params)
    train.seed_everything(p.seed, p.deterministic)
    x, y = preprocess.to_model_inputs(*synthetic.digits(300, seed=3))
    model = train.build_model(p)
    model.compile(optimizer=keras.optimizers.Adam(train.learning_rate_schedule(p, 10)),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train.make_dataset(x, y, p.batch_size, p.seed, shuffle=True), epochs=p.epochs, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.5 * losses[0], losses
    path = tmp_path / "model.h5"
    model.save(path, include_optimizer=False)
    reloaded = keras.models.load_model(path, compile=False)
    np.testing.assert_allclose(reloaded.predict(x[:50], verbose=0), model.predict(x[:50], verbose=0), atol=1e-5)
    test_x, test_y = preprocess.to_model_inputs(*synthetic.digits(100, seed=4))
    accuracy = (reloaded.predict(test_x, verbose=0).argmax(1) == test_y.argmax(1)).mean()
    assert accuracy > 0.9
    shifted = np.roll(test_x, 1, axis=2)
    same = (reloaded.predict(shifted, verbose=0).argmax(1) == test_y.argmax(1)).mean()
    assert same > 0.9, "a one-pixel shift keeps the prediction"


def test_augmentation_moves_pixels_in_training_only(params):
    p = dataclasses.replace(params, rotation_deg=15, shift=0.1, zoom=0.1)
    augmenter = train.build_augmenter(p)
    x, _ = preprocess.to_model_inputs(*synthetic.digits(16))
    augmented = np.asarray(augmenter(x, training=True))
    assert augmented.shape == x.shape
    assert np.abs(augmented - x).mean() > 0.01
    assert augmented.min() >= 0.0 and augmented.max() <= 1.0 + 1e-6
    np.testing.assert_array_equal(np.asarray(augmenter(x, training=False)), x)


def test_learning_rate_warms_up_then_decays(params):
    p = dataclasses.replace(params, epochs=4, warmup_epochs=1, learning_rate=0.01)
    schedule = train.learning_rate_schedule(p, steps_per_epoch=10)
    rates = [float(schedule(step)) for step in (0, 10, 25, 40)]
    assert rates[0] < rates[1] == pytest.approx(0.01)
    assert rates[1] > rates[2] > rates[3] >= 0

"""Model: real MNIST test digits, turned into the images a user has (scaled up, dark ink on white paper,
off-centre, noisy), are classified as the original arrays are, through the MNIST-style transform."""

import keras
import numpy as np
import pytest
from PIL import Image

from stages import model_file, preprocess, train
from stages import params as P
from tests.param_edits import changed
from tests.real_mnist import needs_real_mnist, real_mnist
from tools import predict

pytestmark = needs_real_mnist
SAMPLE = 300


@pytest.fixture(scope="module")
def model_and_digits():
    """A half-width CNN trained briefly, with the pipeline's augmentation, on 12,000 real training digits;
    and the first 300 test digits."""
    images, labels = real_mnist("train")
    x, y = preprocess.to_model_inputs(images[:12000], labels[:12000])
    params = changed(P.load(P.Train), **{"model.width": 0.5})
    train.seed_everything(params.seed, False)
    model = train.build_model(params)
    trainer = keras.Sequential([*train.augmentation_layers(params), model])
    trainer.compile(optimizer=keras.optimizers.Adam(0.003), loss="categorical_crossentropy")
    trainer.fit(x, y, batch_size=128, epochs=3, verbose=0)
    return model, real_mnist("test")[0][:SAMPLE]


def user_forms(digit: np.ndarray, rng: np.random.Generator) -> dict[str, Image.Image]:
    big = np.asarray(Image.fromarray(digit).resize((200, 200), Image.Resampling.BICUBIC))
    paper = 255 - big
    sheet = np.full((320, 280), 255, np.uint8)
    top, left = rng.integers(0, 120), rng.integers(0, 80)
    sheet[top : top + 200, left : left + 200] = paper
    noisy = np.clip(sheet + rng.normal(0, 12, sheet.shape), 0, 255).astype(np.uint8)
    return {
        "scaled": Image.fromarray(big),
        "dark_on_white": Image.fromarray(paper),
        "off_centre": Image.fromarray(sheet),
        "noisy": Image.fromarray(noisy),
    }


def test_user_forms_are_classified_like_the_originals(model_and_digits, tmp_path):
    model, digits = model_and_digits
    rng = np.random.default_rng(0)
    reference = model.predict(digits[..., None].astype(np.float32) / 255, verbose=0).argmax(axis=1)
    files: dict[str, list] = {}
    for i, digit in enumerate(digits):
        for form, image in user_forms(digit, rng).items():
            path = tmp_path / form / f"{i:03d}.png"
            path.parent.mkdir(exist_ok=True)
            image.save(path)
            files.setdefault(form, []).append(path)
    for form, paths in files.items():
        inputs, failures = predict.load_inputs(paths)
        assert not failures, failures[:3]
        predicted = np.array(
            [p.ranked()[0][0] for p in predict.predict(model_file.Classifier(model), inputs, batch_size=256)]
        )
        agreement = (predicted == reference).mean()
        assert agreement >= 0.97, f"{form}: {agreement:.1%} agree with the original arrays"


def test_the_transform_gives_an_mnist_style_frame():
    digit = np.zeros((90, 40), np.uint8)
    digit[10:80, 15:25] = 255  # a tall "1", dark on light after inversion below
    frame = predict.mnist_normalise(255 - digit)
    assert frame.shape == (28, 28) and frame.min() >= 0 and frame.max() <= 1
    rows, cols = np.nonzero(frame > 0.05)
    assert rows.max() - rows.min() + 1 == 20, "scaled to fit 20x20, keeping the aspect ratio"
    ys, xs = np.indices(frame.shape)
    centre = ((ys * frame).sum() / frame.sum(), (xs * frame).sum() / frame.sum())
    assert np.allclose(centre, (14, 14), atol=1.0), centre

"""Model: real MNIST test digits, turned into the images a user has (scaled up, dark ink on white paper,
off-centre, noisy), are classified as the original arrays are, through the MNIST-style transform."""

import keras
import numpy as np
import pytest
from PIL import Image

from classifier import inference, splits, training
from classifier.model import build_model
from classifier.params import checks, sections
from classifier.params.overrides import changed
from tests.support.models import onnx_file
from tests.support.real_mnist import needs_real_mnist, real_mnist
from tests.support.synthetic import MNIST
from tools import predict

pytestmark = needs_real_mnist
SAMPLE = 300


@pytest.fixture(scope="module")
def model_and_digits():
    """A half-width CNN trained briefly, with the pipeline's augmentation, on 12,000 real training digits;
    and the first 300 test digits."""
    images, labels = real_mnist("train")
    x, y = splits.to_model_inputs(images[:12000], labels[:12000], 10)
    params = changed(checks.load(sections.Train), **{"model.width": 0.5})
    training.seed_everything(params.seed, False)
    model = build_model(params, MNIST)
    trainer = keras.Sequential([*training.augmentation_layers(params), model])
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
    classify = inference.Classifier(onnx_file(tmp_path / "model.onnx", model))
    for form, paths in files.items():
        inputs, failures = predict.load_inputs(paths)
        assert not failures, failures[:3]
        predicted = np.array([p.ranked()[0][0] for p in predict.predict(classify, inputs, 256, failures)])
        agreement = (predicted == reference).mean()
        assert agreement >= 0.97, f"{form}: {agreement:.1%} agree with the original arrays"

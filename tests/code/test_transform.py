"""Code: the MNIST-style transform that predict and serve apply to a photo (classifier/transform.py), on
images the test draws: no real MNIST needed."""

import numpy as np

from classifier import transform


def test_the_transform_gives_an_mnist_style_frame():
    digit = np.zeros((90, 40), np.uint8)
    digit[10:80, 15:25] = 255  # a tall "1", dark on light after inversion below
    frame = transform.mnist_normalise(255 - digit)
    assert frame.shape == (28, 28) and frame.min() >= 0 and frame.max() <= 1
    rows, cols = np.nonzero(frame > 0.05)
    assert rows.max() - rows.min() + 1 == 20, "scaled to fit 20x20, keeping the aspect ratio"
    ys, xs = np.indices(frame.shape)
    centre = ((ys * frame).sum() / frame.sum(), (xs * frame).sum() / frame.sum())
    assert np.allclose(centre, (14, 14), atol=1.0), centre

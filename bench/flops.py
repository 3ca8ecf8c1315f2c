"""Counting a Keras model's floating-point operations per image (forward pass; multiply-add = 2 FLOPs).

Convolutions and dense layers only: they are nearly all of the work. Training costs about three forward
passes per image (forward, and backward for inputs and for weights).
"""

from __future__ import annotations


def forward_flops(model) -> int:
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):  # an ensemble's member
            total += forward_flops(layer)
        elif isinstance(layer, keras.layers.Conv2D):
            _, height, width, channels_out = layer.output.shape
            kernel_h, kernel_w = layer.kernel_size
            total += 2 * height * width * kernel_h * kernel_w * layer.input.shape[-1] * channels_out
        elif isinstance(layer, keras.layers.Dense):
            total += 2 * layer.input.shape[-1] * layer.units
    return int(total)

"""Exporting the trained Keras model to ONNX (models/model.onnx), the file that predict, serve and the evaluate
stage run in ONNX Runtime.

Each batch normalisation is folded into the convolution or dense layer before it (oneDNN and ONNX Runtime then
run conv + bias + ReLU as one kernel), the forward pass `model(x, training=False)` is traced and converted with
tf2onnx at a fixed opset, the input is named `image` and shaped (N, H, W, C) float32 in [0, 1], and the class
names ride in the file's metadata. The same .h5 gives the same bytes, so an unchanged model reruns nothing.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import tensorflow as tf
import tf2onnx

from classifier.errors import native_stderr_silenced

OPSET = 17
INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"


def to_onnx(model, class_names: list[str]) -> bytes:
    """The ONNX file's bytes for the Keras `model`: batch norms folded, input `image` (N, H, W, C) float32,
    output the class probabilities, class names and the input's description in its metadata."""
    folded = batch_norm_folded(model)
    forward = tf.function(lambda x: folded(x, training=False))
    spec = tf.TensorSpec(model.input_shape, tf.float32, name=INPUT_NAME)
    with native_stderr_silenced():
        graph, _ = tf2onnx.convert.from_function(forward, input_signature=[spec], opset=OPSET)
    canonical_order(graph.graph)
    canonical_names(graph.graph)
    graph.doc_string = ""
    del graph.metadata_props[:]
    for key, value in metadata(class_names, model.input_shape[1:]).items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    return graph.SerializeToString(deterministic=True)


def canonical_order(graph) -> None:
    """Put the graph's nodes in one order fixed by its structure: each node after its inputs' producers, taken
    depth first from the output, input by input. tf2onnx's own order of independent branches (an ensemble's
    members) changes from process to process."""
    producer = {name: node for node in graph.node for name in node.output}
    ordered: list = []
    placed: set[int] = set()
    stack = [(producer[value.name], False) for value in reversed(graph.output)]
    while stack:
        node, inputs_placed = stack.pop()
        if id(node) in placed:
            continue
        if inputs_placed:
            placed.add(id(node))
            ordered.append(type(node).FromString(node.SerializeToString()))
            continue
        stack.append((node, True))
        stack += [(producer[name], False) for name in reversed(node.input) if name in producer]
    unused = [node for node in graph.node if id(node) not in placed]  # none from tf2onnx; kept, not dropped
    ordered += [type(node).FromString(node.SerializeToString()) for node in unused]
    del graph.node[:]
    graph.node.extend(ordered)


def canonical_names(graph) -> None:
    """Rename the graph's nodes, inner tensors and batch dimension by their place in it: tf2onnx numbers the
    names it makes from counters global to the process, so without this the same model converted twice gives
    other bytes."""
    graph.doc_string = ""  # names the traced function, numbered per process
    for value in [*graph.input, *graph.output]:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param:
                dim.dim_param = "N"  # the batch: tf2onnx numbers unknown dimensions per process too
    keep = {value.name for value in graph.input}
    names: dict[str, str] = {value.name: OUTPUT_NAME for value in graph.output}

    def renamed(name: str) -> str:
        return name if not name or name in keep else names.setdefault(name, f"t{len(names)}")

    for index, node in enumerate(graph.node):
        node.input[:] = [renamed(name) for name in node.input]
        node.output[:] = [renamed(name) for name in node.output]
        node.name = f"{node.op_type}_{index}"
    for initializer in graph.initializer:
        initializer.name = renamed(initializer.name)
    for value in [*graph.value_info, *graph.output]:
        value.name = renamed(value.name)
    infos = sorted(graph.value_info, key=lambda value: int(value.name[1:]) if value.name[1:].isdigit() else -1)
    del graph.value_info[:]
    graph.value_info.extend(infos)
    order = {name: index for index, name in enumerate(names.values())}  # initializers in the order of first use
    initializers = sorted(graph.initializer, key=lambda tensor: order[tensor.name])
    del graph.initializer[:]
    graph.initializer.extend(initializers)


def metadata(class_names: list[str], input_shape: tuple) -> dict[str, str]:
    """What a user of the file needs besides the graph: the class names, in output order, and the input."""
    return {
        "class_names": json.dumps(list(class_names)),
        "input": f"{INPUT_NAME}: (N, {', '.join(map(str, input_shape))}) float32 in [0, 1], as in training",
    }


def batch_norm_folded(model):
    """`model` at inference with each BatchNormalization that follows a Conv2D or Dense layer folded into it: at
    inference a batch normalisation is y = x * scale + shift per channel (scale = gamma / sqrt(variance + epsilon),
    shift = beta - mean * scale), so the layer before it computes the same with its kernel times scale and its
    bias times scale plus shift. An ensemble (classifier.model.averaged) gets each member folded."""
    if not isinstance(model, keras.Sequential):
        return keras.models.clone_model(
            model, clone_function=lambda layer: batch_norm_folded(layer) if isinstance(layer, keras.Model) else layer
        )
    layers = []
    for layer in model.layers:
        before = layers[-1] if layers else None
        if (
            isinstance(layer, keras.layers.BatchNormalization)
            and isinstance(before, (keras.layers.Conv2D, keras.layers.Dense))
            and layer.axis in (-1, len(layer.input.shape) - 1)
        ):
            layers[-1] = folded_layer(before, layer)
        else:
            layers.append(layer)
    return keras.Sequential([keras.Input(shape=model.input_shape[1:]), *layers], name=f"{model.name}_folded")


def folded_layer(layer, norm):
    """A copy of the Conv2D or Dense `layer` with the inference-time batch normalisation `norm` folded in."""
    variance = np.asarray(norm.moving_variance, np.float64)
    scale = (np.asarray(norm.gamma, np.float64) if norm.scale else 1.0) / np.sqrt(variance + norm.epsilon)
    shift = (np.asarray(norm.beta, np.float64) if norm.center else 0.0) - np.asarray(norm.moving_mean) * scale
    kernel = np.asarray(layer.kernel, np.float64)
    bias = np.asarray(layer.bias, np.float64) if layer.use_bias else np.zeros(kernel.shape[-1])
    copy = type(layer).from_config({**layer.get_config(), "use_bias": True})
    copy.build(layer.input.shape)
    copy.set_weights([(kernel * scale).astype(np.float32), (bias * scale + shift).astype(np.float32)])
    return copy

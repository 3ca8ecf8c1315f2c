"""Export stage: write the trained model as ONNX, the file that predict, serve and the evaluate stage run.

Reads: models/model.h5 and params.yaml `dataset` (the images' shape, checked against the model, and the class
       names).
Writes: models/model.onnx: batch norms folded into the layers before them, opset 17, input `image` shaped
        (N, H, W, C) float32 in [0, 1], output `probabilities`, the class names in its metadata. The same .h5
        and names give the same bytes.
"""

import sys

from classifier import files, keras_model, onnx_export, paths
from classifier.errors import run
from classifier.params.checks import load
from classifier.params.dataset import Dataset


def main() -> None:
    d = load(Dataset)
    model = keras_model.load_model(paths.MODEL_PATH, d)
    data = onnx_export.to_onnx(model, d.classes)
    with files.atomic_path(paths.ONNX_PATH) as tmp:
        tmp.write_bytes(data)
    print(f"wrote {paths.ONNX_PATH.relative_to(paths.ROOT)} ({len(data) / 2**20:.1f} MB)")


if __name__ == "__main__":
    sys.exit(run(main))

"""Train stage: fit the CNN on the training split, early-stopping on the validation split (with `train.ensemble`
> 1, that many in turn, saved as one model that averages their softmax).

Reads: data/processed/{train,val}.npz, params.yaml `dataset` (the model's input shape and classes) and
       `train`. With `train.workers` > 1 it starts that many
       copies of itself as one MultiWorkerMirroredStrategy cluster on localhost (classifier/cluster.py);
       worker 0, the chief, alone writes.
Writes: models/model.h5 (HDF5, float32 whatever `train.precision` trained it; `keras.models.load_model` loads
        it with no custom objects); through dvclive, metrics/train/: per-epoch loss and accuracy for train
        and validation under plots/metrics/ (DVC plots data; an ensemble's members one after another) and
        metrics.json (last epoch, epochs run, the best epoch (counted from 1) and its validation accuracy,
        training wall time; for an ensemble, those of each member and the ensemble's validation accuracy); and
        metrics/train/environment.json (CPU, instruction sets, versions, threads: what the figures depend on
        besides params). The test set is never read here.
"""

import sys

from classifier import cluster, environment, files, paths, training
from classifier.errors import run
from classifier.model import averaged, float32_copy
from classifier.params.checks import load
from classifier.params.dataset import Dataset
from classifier.params.train import Train


def main() -> None:
    d, p = load(Dataset), load(Train)
    if p.workers > 1 and not cluster.in_cluster():
        cluster.run_local(p.workers, ["-m", "stages.train"])
        return
    members = training.train(p, d)
    if members is None:  # a worker other than the chief
        return
    model = averaged([float32_copy(p, d, member) for member in members], d)
    with files.atomic_path(paths.MODEL_PATH) as tmp:
        model.save(tmp, include_optimizer=False)
    files.write_json(paths.ENVIRONMENT_PATH, environment.describe())
    print(f"saved {paths.MODEL_PATH.relative_to(paths.ROOT)}")


if __name__ == "__main__":
    sys.exit(run(main))

"""The pipeline's stages: params -> fetch -> preprocess -> train -> evaluate (see dvc.yaml).

`python -m stages.<name>` imports this package first, before the stage's own imports, which take seconds
(TensorFlow, matplotlib, scikit-learn). So here, a few milliseconds into its run and with nothing but the
standard library loaded, a stage run by DVC (or a training worker) asks Linux to end it when its parent
dies, however that dies: a `dvc repro` killed with SIGKILL takes its running stage with it, instead of
leaving an orphan that writes on. The parent must be DVC itself, not a shell between them: hence `exec` in
each command in dvc.yaml. It also keeps TensorFlow's C++ start-up lines (oneDNN, CUDA stubs) off the log.
"""

import ctypes
import os
import signal
import sys

MANAGED_BY = ("DVC_STAGE", "TF_CONFIG")  # set by DVC for a stage's command, and by the train stage for its workers


def die_with_parent_when_managed() -> None:
    """Under DVC or as a training worker, SIGTERM when the parent process dies (PR_SET_PDEATHSIG; Linux only)."""
    if sys.platform.startswith("linux") and any(os.environ.get(name) for name in MANAGED_BY):
        parent = os.getppid()
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1: PR_SET_PDEATHSIG
        if os.getppid() != parent:  # it died just before: no signal will come
            os.kill(os.getpid(), signal.SIGTERM)


die_with_parent_when_managed()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

"""Params stage: check every section of params.yaml before any other stage runs.

DVC deletes a stage's outputs before it starts the stage's command, so a bad value refused by the stage that
reads it would already have cost that stage's earlier outputs; refused here, it costs none.
Reads: params.yaml (all sections).
Writes: data/params.ok, a mark with the same bytes on every run, which fetch depends on: a change that passes
        the check reruns only the stages whose own section changed.
"""

import sys

from classifier import files, paths
from classifier.errors import run
from classifier.params.checks import load
from classifier.params.sections import SECTIONS


def main() -> None:
    for section in SECTIONS.values():
        load(section)
    files.write_text(paths.PARAMS_CHECKED, "params.yaml passed every check of the params stage\n")
    print("params.yaml is valid")


if __name__ == "__main__":
    sys.exit(run(main))

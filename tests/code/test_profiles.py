"""Code: the named parameter profiles (tools/profiles.py) are valid params, and print as `dvc exp run` takes them."""

import pytest
import yaml

from stages import common, params
from tools import profiles, synthetic


@pytest.mark.parametrize("name", profiles.PROFILES)
def test_each_profile_applied_to_params_yaml_passes_the_params_checks(name, tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(common.PARAMS_PATH.read_text())
    for key, value in profiles.PROFILES[name].items():
        section, rest = key.split(".", 1)
        synthetic.set_params(path, section, **{rest: value})
    applied = params.Train.model_validate(yaml.safe_load(path.read_text())["train"])
    assert applied.model_dump() != params.load(params.Train).model_dump(), "a profile changes something"


def test_a_profile_prints_as_set_param_arguments():
    arguments = profiles.set_params("fast")
    assert arguments[0::2] == ["-S"] * len(profiles.PROFILES["fast"])
    assert "train.epochs=2" in arguments[1::2]


def test_an_unknown_profile_names_the_known_ones():
    with pytest.raises(common.UserError, match="no profile named 'quick'; the profiles are: fast"):
        profiles.set_params("quick")


def test_the_readme_shows_the_fast_profile_as_defined():
    readme = (common.ROOT / "README.md").read_text()
    block = readme[readme.index("### Fast profile") :].split("```", 2)[1]
    shown = [word for word in block.split() if "=" in word]
    assert shown == profiles.set_params("fast")[1::2]

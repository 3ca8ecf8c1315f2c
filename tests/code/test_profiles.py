"""Code: the named parameter profiles (tools/profiles.py) are valid params, and print as `dvc exp run` takes them."""

import pytest
import yaml

from classifier import errors, paths
from classifier.params import checks, sections
from classifier.params.overrides import edit_file
from tools import profiles


@pytest.mark.parametrize("name", profiles.PROFILES)
def test_each_profile_applied_to_params_yaml_passes_the_params_checks(name, tmp_path):
    path = tmp_path / "params.yaml"
    path.write_text(paths.PARAMS_PATH.read_text())
    edit_file(path, profiles.PROFILES[name])
    applied = sections.Train.model_validate(yaml.safe_load(path.read_text())["train"])
    assert applied.model_dump() != checks.load(sections.Train).model_dump(), "a profile changes something"


def test_a_profile_prints_as_set_param_arguments():
    arguments = profiles.set_params("fast")
    assert arguments[0::2] == ["-S"] * len(profiles.PROFILES["fast"])
    assert "train.epochs=2" in arguments[1::2]


@pytest.mark.parametrize("name", profiles.PROFILES)
def test_each_profile_parses_back_through_the_override_grammar_dvc_uses(name):
    """`dvc exp run -S` reads each value with Hydra's override parser: it must give back the profile's values
    (a dict's keys quoted, as JSON writes them, do not parse)."""
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_overrides(profiles.set_params(name)[1::2])
    assert {override.key_or_group: override.value() for override in parsed} == profiles.PROFILES[name]


def test_an_unknown_profile_names_the_known_ones():
    with pytest.raises(errors.UserError, match="no profile named 'quick'; the profiles are: fast"):
        profiles.set_params("quick")


def test_the_readme_shows_the_accurate_profile_as_defined():
    readme = (paths.ROOT / "README.md").read_text()
    bullet = readme[readme.index("- `accurate`: ") :].split("\n- ", 1)[0]
    assert bullet.split("`")[3] == " ".join(profiles.set_params("accurate"))

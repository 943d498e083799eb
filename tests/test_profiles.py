import re

import pytest

from conftest import ROOT
from hw2lib.models import MODELS
from hw2lib.report.notebooks import SECTIONS, notebook_parameters
from hw2lib.runs.profiles import deprecated, profile_name, run_names, run_settings, settings_from_runs_yaml

PROFILES = ["sample", "homework", "smoke", "reference"]
DEFAULT_FINETUNES = [["fcn8s", "fcn8s_ce_finetune", "fcn8s_lovasz"]]  # 03_fcn8s's parameters cell


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_describes_valid_runs_and_notebook_parameters(profile):
    runs_yaml = ROOT / "params" / profile / "runs.yaml"
    names = run_names(profile)
    for name in names:
        s = settings_from_runs_yaml(runs_yaml, name, data_root="/data/hw2")
        assert MODELS[s.model.model].task == s.task.name
        assert s.place.out_dir.endswith(f"runs/{profile}/{name}")
        dry = settings_from_runs_yaml(runs_yaml, name, data_root="/data/hw2", dry=True)
        assert dry.place.out_dir.endswith(f"runs/{profile}-dry/{name}") and dry.train.epochs == 1
    assert "fcn32s_no_relu" in names and "fcn8s_lovasz" in names
    for notebook in SECTIONS:
        params = notebook_parameters(profile, notebook)
        named = [v for k, v in params.items() if k in ("run", "main_run", "baseline", "control", "improved")]
        named += [n for k, v in params.items() if isinstance(v, list) for n in v if isinstance(n, str)]
        named += [n for trio in params.get("finetunes", []) for n in trio]
        assert set(named) <= set(names), (notebook, set(named) - set(names))


@pytest.mark.parametrize("profile", PROFILES)
def test_every_lovasz_fine_tune_has_its_cross_entropy_control(profile):
    runs_yaml = ROOT / "params" / profile / "runs.yaml"
    names = run_names(profile, repeats=1)
    lovasz = [n for n in names if "lovasz" in getattr(settings_from_runs_yaml(runs_yaml, n).task, "loss", "")]
    assert lovasz
    finetunes = notebook_parameters(profile, "03_fcn8s").get("finetunes", DEFAULT_FINETUNES)
    assert sorted(trio[2] for trio in finetunes) == sorted(lovasz)
    for parent, control, tuned in finetunes:
        a, b = (settings_from_runs_yaml(runs_yaml, n) for n in (control, tuned))
        assert a.place.init_from == b.place.init_from and a.place.init_from.endswith(f"/{parent}")
        assert a.task.loss == "ce"
        assert a.train == b.train and a.data == b.data  # epochs, rate, schedule, seed... alike


def test_a_profile_wide_override_reaches_only_the_runs_whose_task_has_the_key():
    fcn8s = run_settings("smoke", "fcn8s", overrides=["image_size=96", "epochs=3"])
    resnet = run_settings("smoke", "resnet18", overrides=["image_size=96", "epochs=3"])
    assert fcn8s.task.image_size == 96 and fcn8s.train.epochs == 3 and resnet.train.epochs == 3


def test_the_old_name_of_the_reference_profile_still_works_and_says_so(capsys):
    deprecated.cache_clear()  # the notice is said once per process
    assert profile_name("seed") == "reference" and profile_name("seed-dry") == "reference-dry"
    assert capsys.readouterr().err.count("'seed' is the old name of 'reference'") == 1
    assert run_names("seed") == run_names("reference")


def test_the_reference_profile_is_the_reference_authors_recipe():
    runs_yaml = ROOT / "params" / "reference" / "runs.yaml"
    fcn8s = settings_from_runs_yaml(runs_yaml, "fcn8s")
    t = fcn8s.train
    assert (t.optimizer, t.schedule, t.batch_size, fcn8s.task.augment, t.select) == \
        ("adam", "constant", 32, (), "val_loss")
    assert fcn8s.task.image_size is None and fcn8s.model.fcn_init == "torch"
    unet = settings_from_runs_yaml(runs_yaml, "unet16")
    assert unet.model.decoder == "transposed" and not unet.model.pretrained
    resnet = settings_from_runs_yaml(runs_yaml, "resnet18")
    assert (resnet.task.input_size, resnet.train.batch_size, resnet.task.augment) == (224, 16, ())
    assert segnet_decoder("reference") == "reference"


def segnet_decoder(profile):
    return settings_from_runs_yaml(ROOT / "params" / profile / "runs.yaml", "segnet").model.decoder


SOURCE = re.compile(r"\w+\.(py|txt):\d+|report lines? \d+|not known|not in the reference")


def test_every_value_of_the_reference_profile_names_its_source_or_says_it_is_not_known():
    lines = (ROOT / "params" / "reference" / "runs.yaml").read_text().splitlines()
    values = [(i, line) for i, line in enumerate(lines) if re.match(r"  \w+:", line) and not line.startswith("  #")]
    assert len(values) > 40
    for i, line in values:
        key = line.split(":")[0].strip()
        if key == "dataset":  # the homework's folder layout, not a recipe
            continue
        above = []
        for previous in reversed(lines[:i]):  # a run's comment may stand above it
            if not previous.startswith("  #"):
                break
            above.append(previous)
        assert SOURCE.search(line.partition("#")[2] + " ".join(above)), line

import pytest

from conftest import ROOT
from hw2lib.config import read_yaml
from hw2lib.models import MODELS
from hw2lib.report.build import RUN_ORDER
from hw2lib.runs.profiles import config_from_runs_yaml, run_names

PROFILES = ["sample", "homework", "smoke", "seed"]


@pytest.mark.parametrize("profile", PROFILES)
def test_every_profile_describes_valid_runs_and_notebook_parameters(profile):
    runs_yaml = ROOT / "params" / profile / "runs.yaml"
    names = run_names(profile)
    for name in names:
        cfg = config_from_runs_yaml(runs_yaml, name, data_root="/data/hw2")
        assert MODELS[cfg["model"]].task == cfg["task"]
        assert cfg["out_dir"].endswith(f"runs/{profile}/{name}")
        dry = config_from_runs_yaml(runs_yaml, name, data_root="/data/hw2", dry=True)
        assert dry["out_dir"].endswith(f"runs/{profile}-dry/{name}") and dry["epochs"] == 1
    assert "fcn32s_no_relu" in names and "fcn8s_lovasz" in names
    for notebook in RUN_ORDER:
        params = read_yaml(ROOT / "params" / profile / f"{notebook}.yaml")
        named = [v for k, v in params.items() if k in ("run", "main_run", "baseline", "control", "improved")]
        named += [n for k, v in params.items() if isinstance(v, list) for n in v if isinstance(n, str)]
        named += [n for trio in params.get("finetunes", []) for n in trio]
        assert set(named) <= set(names), (notebook, set(named) - set(names))


@pytest.mark.parametrize("profile", PROFILES)
def test_every_lovasz_fine_tune_has_its_cross_entropy_control(profile):
    runs_yaml = ROOT / "params" / profile / "runs.yaml"
    names = run_names(profile)
    lovasz = [n for n in names if "lovasz" in config_from_runs_yaml(runs_yaml, n)["loss"]]
    assert lovasz
    finetunes = read_yaml(ROOT / "params" / profile / "03_fcn8s.yaml")["finetunes"]
    assert sorted(trio[2] for trio in finetunes) == sorted(lovasz)
    for parent, control, tuned in finetunes:
        a, b = (config_from_runs_yaml(runs_yaml, n) for n in (control, tuned))
        assert a["init_from"] == b["init_from"] and a["init_from"].endswith(f"/{parent}")
        assert a["loss"] == "ce"
        same = ("epochs", "lr", "schedule", "warmup_epochs", "optimizer", "batch_size", "select", "seed")
        assert {k: a[k] for k in same} == {k: b[k] for k in same}


def test_the_seed_profile_is_the_seed_authors_recipe():
    runs_yaml = ROOT / "params" / "seed" / "runs.yaml"
    fcn8s = config_from_runs_yaml(runs_yaml, "fcn8s")
    assert (fcn8s["optimizer"], fcn8s["schedule"], fcn8s["batch_size"], fcn8s["augment"], fcn8s["select"]) == \
        ("adam", "constant", 32, [], "val_loss")
    assert fcn8s["image_size"] is None and fcn8s["fcn_init"] == "torch"
    unet = config_from_runs_yaml(runs_yaml, "unet16")
    assert unet["decoder"] == "transposed" and not unet["pretrained"]
    resnet = config_from_runs_yaml(runs_yaml, "resnet18")
    assert (resnet["input_size"], resnet["batch_size"], resnet["augment"]) == (224, 16, [])
    # Every value of the file carries its source.
    for line in runs_yaml.read_text().splitlines():
        if ":" in line and not line.lstrip().startswith("#") and line.startswith("  ") and not line.startswith("  #"):
            key = line.split(":")[0].strip()
            if line.startswith("    ") or key in ("dataset", "classes", "num_classes"):
                continue
            assert "#" in line or key in run_names("seed"), line

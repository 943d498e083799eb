"""The dry runs prove a profile's whole job on homework-format data before hours on a GPU: every
run at toy scale (one optimiser step, one training of each), with the pretrained weights loaded
as the profile says (stand-ins here, this machine is offline), then every notebook and the page.
The suite narrows the FCN head and the one step's batch (`--set head_width=256 batch_size=2
limit=2`): when dry runs were at 96 px, the full 4096-wide head made the run three times as long
here and a batch of 8 tiles or 16 images a fifth longer again, and they prove nothing more than
their sizes; `make report DRY=1` keeps both."""
import re
import shutil

import pytest

from conftest import DLCV, ROOT, arrange
from hw2lib.engine.run_dir import RunDir
from hw2lib.report.build import build_report
from hw2lib.runs.graph import train_all
from hw2lib.runs.profiles import run_names

pytestmark = pytest.mark.skipif(not (DLCV / "p2_data" / "train").is_dir(),
                                reason="the homework-format data (../shared/data/dlcv) is not present")
SMALLER = ["head_width=256", "batch_size=2", "limit=2"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return arrange(tmp_path_factory.mktemp("hw2") / "hw2_data", images_per_class=20)


def test_the_dry_run_proves_the_whole_homework_pipeline(data, torch_home):
    shutil.rmtree(ROOT / "runs" / "homework-dry", ignore_errors=True)
    page = build_report("homework", str(data), dry_run=True, overrides=SMALLER, log=lambda *_: None)
    assert page == ROOT / "build" / "report" / "homework-dry.html"
    text = page.read_text()
    assert text.index("This is a dry run") < text.index(">Provenance<")  # near the top
    assert "image_size 32" in text and "--set head_width=256 batch_size=2 limit=2" in text  # the scale it ran at
    assert "none (dry run)" in text and "no reference comparison: a dry run at toy scale" in text
    runs = ROOT / "runs" / "homework-dry"
    assert run_names("homework-dry") == run_names("homework", repeats=1)  # one training of each
    for name in run_names("homework-dry"):
        record = RunDir(runs / name).record()
        assert record.complete and (runs / name / "kept.pt").is_file(), name
        assert not (runs / name / "last.pt").exists(), name  # optimiser state dropped on completion
        assert re.search(rf"<td[^>]*>{name}</td>", text), name
    assert record.environment["precision"] in ("fp32", "bf16")  # bf16 where the CPU has it


def test_the_reference_profiles_unet16_trains_at_toy_scale(data, torch_home):
    # The reference's own model variant, TernausNet's UNet16 from scratch, keeping the lowest val
    # loss. The reference profile's whole dry run is `make report PROFILE=reference DATA_ROOT=...
    # DRY=1` (about as long as the homework's); its other variants have their own unit tests.
    shutil.rmtree(ROOT / "runs" / "reference-dry", ignore_errors=True)
    (outcome,) = train_all("reference", str(data), dry_run=True, only=["unet16"], overrides=SMALLER,
                           log=lambda *_: None)
    assert outcome.action == "trained", outcome.result
    unet = RunDir(ROOT / "runs" / "reference-dry" / "unet16").record()
    assert unet.params["decoder"] == "transposed" and unet.kept["rule"] == "val_loss"

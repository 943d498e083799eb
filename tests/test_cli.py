"""The `hw2` command itself: its errors, its exit codes, `hw2 arch`."""
from conftest import hw2, hw2_process


def test_cli_config_errors_are_one_line_with_exit_2():
    out = hw2("train", "params/smoke/runs.yaml", "--run", "fcn8s", "--set", "epochs=1", "augment=[flips]")
    assert out.returncode == 2 and "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines()[-1].endswith("augment: 'flips' is not a segmentation "
                                                         "augmentation; use flip, rot90, scale_crop")
    out = hw2("train", "params/smoke/runs.yaml", "--run", "fcn9s")
    assert out.returncode == 2 and "no run 'fcn9s'; runs: resnet18, resnet34, fcn32s" in out.stderr
    out = hw2("train", "params/smoke/runs.yaml")
    assert out.returncode == 2 and "choose one with --run" in out.stderr
    out = hw2("train", "params/smoke/runs.yaml", "--run", "fcn8s", "--extend")
    assert out.returncode == 2 and "--extend continues a run: use it with --resume" in out.stderr


def test_arch_prints_the_network_and_its_parameter_count():
    out = hw2_process("arch", "fcn32s", "--num-classes", "7")
    assert out.returncode == 0 and out.stdout.strip().splitlines()[-1] == "params: 184671054"
    assert "ConvTranspose2d(7, 7, kernel_size=(32, 32), stride=(32, 32))" in out.stdout
    out = hw2("arch", "resnet18", "--num-classes", "50")
    assert out.stdout.strip().splitlines()[-1] == "params: 11202162"

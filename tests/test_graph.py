"""`hw2 runs` on a local Ray instance the tests start (CPU only), over the smoke profile's dry run
(its own folder, runs/smoke-dry/)."""
import os
import re
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import ROOT, hw2, sigterm_at
from hw2lib.engine.run_dir import RunDir
from hw2lib.errors import ConfigError
from hw2lib.runs.graph import ordered, outcome_table, plan_lines, probe_nodes, train_all
from hw2lib.runs.profiles import run_names

ray = pytest.importorskip("ray")
PROFILE = "smoke-dry"


def crash_at_a_head_of_24():
    """Run in every Ray worker as it starts: an FCN8s whose head is 24 wide kills its process at
    its first forward pass, as the OOM killer or a crash in native code would."""
    import os
    import signal

    from torch.nn.modules.module import register_module_forward_hook

    def hook(module, args, output):
        if type(module).__name__ == "FCN" and module.skips == (4, 3) and module.head[0].out_channels == 24:
            os.kill(os.getpid(), signal.SIGKILL)
    register_module_forward_hook(hook)


@pytest.fixture(scope="module")
def local_ray():
    shutil.rmtree(ROOT / "runs" / PROFILE, ignore_errors=True)
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, configure_logging=False,  # two fake GPUs
             runtime_env={"worker_process_setup_hook": crash_at_a_head_of_24})
    yield
    ray.shutdown()


def by_name(outcomes):
    return {o.name: o for o in outcomes}


def test_the_graph_puts_parents_first_and_only_takes_what_is_asked_for():
    assert ordered("smoke", ["fcn8s_lovasz", "fcn32s"]) == ["fcn32s", "fcn8s", "fcn8s_lovasz"]
    names = ordered("smoke")
    assert names.index("fcn8s") < names.index("fcn8s_lovasz") and len(names) == len(run_names("smoke")) == 12
    assert ordered("smoke", ["fcn8s_seed1"]) == ["fcn8s_seed1"] and ordered("smoke-dry") == run_names("smoke", 1)


def test_runs_on_ray_overlap_on_their_own_gpus_in_fresh_processes_and_a_fine_tune_waits(local_ray):
    only = ["fcn8s_ce_finetune", "fcn32s"]
    outcomes = by_name(train_all(PROFILE, only=only, parallel=2, gpus_per_run=1, log=print))
    assert all(o.action == "trained" for o in outcomes.values()), outcome_table(outcomes.values())
    a, b, child = outcomes["fcn32s"], outcomes["fcn8s"], outcomes["fcn8s_ce_finetune"]
    assert a.started < b.finished and b.started < a.finished  # the independent runs overlapped
    assert {a.worker["cuda_visible_devices"], b.worker["cuda_visible_devices"]} == {"0", "1"}
    assert "[GPU 0]" in outcome_table(outcomes.values()) and "[GPU 1]" in outcome_table(outcomes.values())
    assert len({a.worker["pid"], b.worker["pid"], child.worker["pid"]}) == 3  # a fresh worker each
    assert child.started >= b.finished
    assert plan_lines(PROFILE, only=only) == ["fcn32s: reuse", "fcn8s: reuse", "fcn8s_ce_finetune: reuse"]


def test_hw2_runs_ends_with_its_table_and_reuses_in_this_process(local_ray):
    out = hw2("runs", "--profile", "smoke", "--dry-run", "--only", "fcn32s")
    assert out.returncode == 0, out.stderr
    header, row = out.stdout.strip().splitlines()[-2:]
    assert header.split() == ["run", "what", "happened", "device", "seconds", "result"]
    assert row.split()[:3] == ["fcn32s", "reused", "cpu"] and "val_miou" in row
    plan = hw2("runs", "--profile", "smoke", "--dry-run", "--only", "fcn32s", "--set", "lr=0.5", "--plan")
    assert plan_of(plan.stdout) == ["fcn32s: train (params: lr)"]


def plan_of(stdout):
    """The plan's lines (Ray's workers may print into the same stream)."""
    return [line for line in stdout.splitlines() if re.match(r"[\w-]+: (reuse|resume|train)", line)]


def test_every_node_says_whether_it_sees_the_runs_folder_and_the_data(local_ray, tmp_path):
    (line,) = probe_nodes(ray, str(ROOT / "data" / "sample"))
    assert line.endswith(": runs/ visible, data visible, locks work")
    with pytest.raises(ConfigError, match="must be on a filesystem every node shares and can lock; .*data NOT visible"):
        probe_nodes(ray, str(tmp_path / "elsewhere"))


def test_failed_and_crashed_runs_are_reported_their_children_skipped_and_the_others_go_on(local_ray, tmp_path):
    # num_classes=0 is refused by the classifiers only; a 24-wide FCN8s kills its worker process.
    outcomes = by_name(train_all(PROFILE, only=["fcn8s_lovasz", "resnet34", "fcn2s"], parallel=2,
                                 overrides=["num_classes=0", "head_width=24"], log=print))
    assert outcomes["resnet34"].action == "failed"
    assert "num_classes: 0 must be at least 1" in outcomes["resnet34"].result
    assert outcomes["resnet34"].worker["pid"] == os.getpid()  # refused here: no worker process started for it
    assert outcomes["fcn8s"].action == "failed" and "WorkerCrashedError" in outcomes["fcn8s"].result
    assert (outcomes["fcn8s_lovasz"].action, outcomes["fcn8s_lovasz"].result) == ("skipped", "its parent fcn8s did "
                                                                                  "not finish")
    assert outcomes["fcn2s"].action == "trained"  # the run that needs none of them
    # A data folder without the data: the settings pass, the run fails in its worker, and its child,
    # given the failed outcome, skips itself in its own.
    outcomes = by_name(train_all(PROFILE, str(tmp_path), only=["fcn8s_lovasz"], parallel=2, log=print))
    assert outcomes["fcn8s"].action == "failed" and "dubai_aerial/train: no such folder" in outcomes["fcn8s"].result
    assert (outcomes["fcn8s_lovasz"].action, outcomes["fcn8s_lovasz"].result) == ("skipped", "its parent fcn8s did "
                                                                                  "not finish")
    assert os.getpid() not in (outcomes["fcn8s"].worker["pid"], outcomes["fcn8s_lovasz"].worker["pid"])
    outcomes = by_name(train_all(PROFILE, only=["fcn8s_lovasz"], parallel=2, overrides=["lr=-1"], log=print))
    assert outcomes["fcn8s"].action == "failed" and "lr: -1.0 must be positive" in outcomes["fcn8s"].result
    assert (outcomes["fcn8s_lovasz"].action, outcomes["fcn8s_lovasz"].result) == ("skipped", "its parent fcn8s did "
                                                                                  "not finish")
    assert outcomes["fcn8s"].worker["pid"] == outcomes["fcn8s_lovasz"].worker["pid"] == os.getpid()  # both here
    out = hw2("runs", "--profile", "smoke", "--dry-run", "--only", "resnet34", "--set", "num_classes=0")
    assert out.returncode == 1 and "num_classes: 0 must be at least 1" in out.stdout.splitlines()[-1]


def test_sigterm_to_hw2_runs_stops_the_graph_with_its_table_and_a_last_pt():
    """One at a time (in this process) and on Ray (in a new one): the run in training saves its
    state, no other run starts, the table is printed, exit 75."""
    shutil.rmtree(ROOT / "runs" / PROFILE, ignore_errors=True)
    with sigterm_at("train", 2):  # fcn32s's second epoch (one step each): it stops after it
        out = hw2("runs", "--profile", "smoke", "--dry-run", "--only", "fcn32s", "fcn16s", "--set", "epochs=4")
    assert out.returncode == 75, out.stdout[-2000:]
    table = out.stdout.strip().splitlines()[-3:]
    assert table[1].split()[:2] == ["fcn32s", "preempted"] and table[2].split()[:3] == ["fcn16s", "not", "started"]
    assert RunDir(ROOT / "runs" / PROFILE / "fcn32s").checkpoint("last").is_file()
    shutil.rmtree(ROOT / "runs" / PROFILE, ignore_errors=True)
    proc = subprocess.Popen([sys.executable, "-m", "hw2lib", "runs", "--profile", "smoke", "--dry-run", "--only",
                             "fcn32s", "fcn16s", "--set", "epochs=50", "--parallel", "2"], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", "RAY_DEDUP_LOGS": "0"})
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if "epoch 1/50" in line:  # 49 epochs to go: the stop lands long before the runs could end
            proc.send_signal(signal.SIGTERM)
            break
    lines += proc.stdout.readlines()
    assert proc.wait(timeout=180) == 75, "".join(lines[-30:])
    table = "".join(lines[-4:])
    assert "run  " in table and "preempted" in table, table
    stopped = [n for n in ("fcn32s", "fcn16s") if RunDir(ROOT / "runs" / PROFILE / n).checkpoint("last").is_file()]
    assert stopped and all(not RunDir(ROOT / "runs" / PROFILE / n).record().complete for n in stopped)

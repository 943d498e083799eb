"""Train, continue or reuse: a run folder is the unit of caching.

A folder holding a complete run with the same cache key (`engine/run_key.py`) is reused instead
of retrained; one holding an interrupted run with the same key and a `last.pt` (preempted, or
crashed after a checkpoint) is continued from it; anything else is trained afresh. The run's lock
is held while deciding and training, so two processes asking for the same run never both train
it: the second waits, then reuses.
"""
from dataclasses import dataclass, field

from ..engine.run_dir import RunDir
from ..engine.run_key import cache_key
from ..engine.training import train
from ..errors import RunNotTrained
from .profiles import parent, repeats, run_config


def status(cfg):
    """("reuse" | "resume" | "train", the run's key): what `train_or_reuse` would do now."""
    run, key = RunDir(cfg["out_dir"]), cache_key(cfg)
    record = run.record() if run.has_record() else {}
    if record.get("cache_key") != key:
        return "train", key
    if record.get("complete") and run.checkpoint("best").is_file():
        return "reuse", key
    return ("resume" if run.checkpoint("last").is_file() else "train"), key


def train_or_reuse(cfg, log=print):
    """The run's record: reused, continued, or trained (a fresh run replaces the folder whole)."""
    run = RunDir(cfg["out_dir"])
    with run.lock(log):
        action, key = status(cfg)
        if action == "reuse":
            log(f"{run.path.name}: unchanged (cache key {key}), reusing it")
            return run.record()
        log(f"{run.path.name}: {'continuing' if action == 'resume' else 'training'} {cfg['model']} "
            f"({cfg['epochs']} epochs)")
        return train(cfg, resume=action == "resume", log=log)


@dataclass
class Run:
    """A finished run of a profile: its name, config, record and folder, and the runs that repeat
    it with other seeds (itself first; just itself without `seeds`)."""
    name: str
    cfg: dict
    record: dict
    repeats: list = field(default_factory=list)

    @property
    def dir(self):
        return RunDir(self.cfg["out_dir"])


def finished_record(cfg, name):
    """The record of a run that needs no training, or an error naming the run."""
    action, _ = status(cfg)
    if action != "reuse":
        raise RunNotTrained(f"run {name} is not trained with its current params (it would "
                            f"{action}); train it first with `hw2 runs` (make report does)")
    return RunDir(cfg["out_dir"]).record()


def load_runs(profile, names, data_root=None, train_missing=True, log=print):
    """{name: Run} for runs of `profile`. With `train_missing` (interactive use) a run that is
    not finished is trained or continued here, its `init_from` parent first; without it (a batch
    build, after `hw2 runs`) such a run is an error naming it."""
    out = {}

    def ensure(name):
        if name not in out:
            cfg = run_config(profile, name, data_root)
            if parent(profile, name) is not None:
                ensure(parent(profile, name))
            record = train_or_reuse(cfg, log) if train_missing else finished_record(cfg, name)
            out[name] = Run(name, cfg, record)
        return out[name]

    for name in names:
        ensure(name).repeats = [ensure(n) for n in repeats(profile, name)]
    return {name: out[name] for name in names}

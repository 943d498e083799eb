"""Train, continue or reuse: a run folder is the unit of caching.

A folder holding a complete run with the same cache key (`engine/run_key.py`) is reused instead
of retrained; one holding an interrupted run with the same key and a `last.pt` (preempted, or
crashed after a checkpoint) is continued from it; anything else is trained afresh, and the
decision says which part of the key changed. The run's lock is held while deciding and
training, so two processes asking for the same run never both train it: the second waits, then
reuses.
"""
from dataclasses import dataclass, field

from ..engine.run_dir import RunDir
from ..engine.run_key import key_of, key_parts, what_changed
from ..engine.training import train
from ..errors import RunNotTrained
from ..settings import RunSettings
from .profiles import lineage, repeat_names, run_settings


@dataclass
class Plan:
    """What `train_or_reuse` would do with a run now, and why."""
    action: str   # reuse | resume | train
    key: str
    reason: str   # for "train": which part of the key changed, or that nothing was trained


def plan(settings):
    """The `Plan` of a run: "reuse" a complete run with the same key, "resume" an interrupted
    one with the same key and a last.pt, else "train" (with the changed part of the key)."""
    run, parts = RunDir(settings.place.out_dir), key_parts(settings)
    key = key_of(parts)
    record = run.record() if run.has_record() else None
    if record is None:
        return Plan("train", key, "not trained yet")
    if record.cache_key != key:
        discards = " (its last.pt is discarded)" if run.checkpoint("last").is_file() else ""
        return Plan("train", key, what_changed(record.key_parts, parts) + discards)
    if record.complete and run.checkpoint("kept").is_file():
        return Plan("reuse", key, "")
    if run.checkpoint("last").is_file():
        return Plan("resume", key, "")
    return Plan("train", key, "interrupted before its first checkpoint")


def train_or_reuse(settings, log=print):
    """The run's `RunRecord`: reused, continued, or trained (a fresh run replaces the folder whole)."""
    run = RunDir(settings.place.out_dir)
    with run.lock(log):
        decided = plan(settings)
        if decided.action == "reuse":
            log(f"{run.path.name}: unchanged (cache key {decided.key}), reusing it")
            return run.record()
        doing = "continuing" if decided.action == "resume" else f"training ({decided.reason})"
        log(f"{run.path.name}: {doing} {settings.model.model} ({settings.train.epochs} epochs)")
        return train(settings, resume=decided.action == "resume", log=log)


@dataclass
class Run:
    """A finished run of a profile: its name, settings, record and folder, and the runs that
    repeat it with other seeds (itself first; just itself without `seeds`)."""
    name: str
    settings: RunSettings
    record: object  # RunRecord
    repeats: list = field(default_factory=list)

    @property
    def dir(self):
        return RunDir(self.settings.place.out_dir)


def finished_record(settings, name):
    """The record of a run that needs no training, or an error naming the run."""
    decided = plan(settings)
    if decided.action != "reuse":
        raise RunNotTrained(f"run {name} is not trained with its current params (it would "
                            f"{decided.action}: {decided.reason or 'interrupted'}); train it first with "
                            "`hw2 runs` (make report does)")
    return RunDir(settings.place.out_dir).record()


def load_runs(profile, names, data_root=None, train_missing=True, *, overrides=(), repeats=None, log=print):
    """{name: Run} for runs of `profile`. With `train_missing` (interactive use) a run that is
    not finished is trained or continued here, its `init_from` parent first; without it (a batch
    build, after `hw2 runs`) such a run is an error naming it. `overrides` and `repeats` are the
    build's (`hw2 report --set ... --repeats N`)."""
    out = {}

    def ensure(name):
        for step in lineage(profile, name):  # parents first
            if step not in out:
                settings = run_settings(profile, step, data_root, overrides)
                record = train_or_reuse(settings, log) if train_missing else finished_record(settings, step)
                out[step] = Run(step, settings, record)
        return out[name]

    for name in names:
        ensure(name).repeats = [ensure(n) for n in repeat_names(profile, name, repeats)]
    return {name: out[name] for name in names}

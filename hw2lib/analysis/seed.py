"""The seed report beside this one: its numbers (`params/seed_results.yaml`), each run's score
with its own 95% bootstrap interval against them, and the seed's claims tested on this
profile's runs.

    seed = seed_numbers("homework")           # the profile's `seed_results:`, if it has one
    seed_columns("fcn8s", runs["fcn8s"], seed)
    claims_table(runs, seed)

A run "reproduces the seed" when the seed's number lies inside the run's 95% interval over its
validation items; otherwise it is above or below it. A profile trained on other data than the
seed's (the sample) has no counterpart, and says so instead of inventing one.
"""
from dataclasses import dataclass, field
from pathlib import Path

from ..config import read_yaml
from ..errors import ConfigError
from ..numbers import fmt
from ..runs.profiles import DRY_SUFFIX, ROOT, params_dir, settings
from ..tasks import make_task
from .evidence import compare_runs, format_difference, format_interval, run_interval

SEED_RESULTS = ROOT / "params" / "seed_results.yaml"
NO_COUNTERPART = "no seed counterpart: this profile's data is not the seed report's (the course's hw2_data)"
DRY = "no seed comparison: a dry run at toy scale"
SHORT = {NO_COUNTERPART: "none (other data)", DRY: "none (dry run)"}  # in a table's cell


@dataclass
class Seed:
    runs: dict = field(default_factory=dict)    # run -> {metric: {"value", "line", "quote"}}
    claims: list = field(default_factory=list)
    reason: str = NO_COUNTERPART                # why there is nothing to compare ("" when there is)

    def value(self, name, metric):
        """The seed's number for run `name`, or None."""
        entry = self.runs.get(name, {}).get(metric)
        return None if entry is None else entry["value"]


def read_seed_results(path):
    """The seed numbers file as a `Seed`; a malformed entry is an error naming it."""
    values = read_yaml(path)
    for name, metrics in (values.get("runs") or {}).items():
        for metric, entry in metrics.items():
            for e in entry if metric == "conflicting" else [entry]:
                if not {"value", "line", "quote"} <= set(e):
                    raise ConfigError(f"{path}: run {name}, {metric}: needs value, line and quote")
    for claim in values.get("claims") or []:
        if not {"text", "better", "worse"} <= set(claim):
            raise ConfigError(f"{path}: claim {claim}: needs text, better and worse")
    return Seed(values.get("runs") or {}, values.get("claims") or [], reason="")


def seed_numbers(profile, seed_results=None):
    """The seed for `profile`: its numbers from `seed_results` (a file) when given, else from the
    profile's own `seed_results:` setting; its claims, which any profile can test, from
    params/seed_results.yaml otherwise. A dry run compares nothing."""
    if profile.endswith(DRY_SUFFIX):
        return Seed(reason=DRY)
    named = settings(profile).get("seed_results")
    if seed_results is None and named is None:
        return Seed(claims=read_seed_results(SEED_RESULTS).claims)
    return read_seed_results(Path(seed_results) if seed_results else params_dir(profile) / named)


def verdict(interval, value):
    """"reproduces the seed (0.6973 lies inside [0.6812, 0.7120])", or above / below it."""
    where = f"[{fmt(interval.low)}, {fmt(interval.high)}]"
    if interval.low <= value <= interval.high:
        return f"reproduces the seed ({fmt(value)} lies inside {where})"
    side = "above" if interval.low > value else "below"
    return f"{side} the seed ({fmt(value)} lies outside {where})"


def seed_columns(name, run, seed):
    """The seed's columns of a results-table row: the seed's score and val loss, the difference,
    the run's own interval, the verdict; or one column saying why there is none."""
    metric = make_task(run.cfg).metric
    value = seed.value(name, metric)
    if seed.reason:
        return {"seed": SHORT[seed.reason]}
    if value is None:
        return {"seed": "—"}
    interval = run_interval(run.dir)
    return {"seed": fmt(value), "seed val loss": fmt(seed.value(name, "val_loss")),
            "run − seed": fmt(interval.estimate - value, "+.4f"), "run's 95% CI": format_interval(interval),
            "verdict": verdict(interval, value)}


def seed_sentences(runs, seed):
    """One sentence per run with a seed counterpart (or one saying there is none)."""
    if seed.reason:
        return [f"There is {seed.reason[0].lower()}{seed.reason[1:]}."]
    out = []
    for name, run in runs.items():
        metric = make_task(run.cfg).metric
        value = seed.value(name, metric)
        if value is None:
            continue
        interval = run_interval(run.dir)
        out.append(f"{name}: {make_task(run.cfg).metric_name} {format_interval(interval)} "
                   f"{verdict(interval, value)}.")
    return out


def claim_verdict(d):
    return {"higher": "holds", "lower": "contradicted", "tied": "not resolved (the interval includes zero)"}[d.verdict]


def claims_rows(runs, seed):
    """[(seed claim, its line, this report's number, verdict)] for every claim whose runs exist."""
    rows = []
    for claim in seed.claims:
        better, worse = claim["better"], claim["worse"]
        if better not in runs or worse not in runs:
            continue
        d = compare_runs(runs[worse].dir, runs[better].dir)
        number = f"{better} − {worse}: {format_difference(d)}"
        text = claim_verdict(d)
        control = claim.get("control")
        if control in runs:
            loss_only = compare_runs(runs[control].dir, runs[better].dir)
            epochs_only = compare_runs(runs[worse].dir, runs[control].dir)
            number += (f"; more epochs alone ({control} − {worse}): {format_difference(epochs_only)}; "
                       f"the loss alone ({better} − {control}): {format_difference(loss_only)}")
            text += f"; the loss itself: {claim_verdict(loss_only)}"
        rows.append((claim["text"], claim.get("line"), number, text))
    return rows

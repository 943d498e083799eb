"""The reference report beside this one (the 2020 report this workbook reproduces): its numbers
(`params/reference_results.yaml`), each run's score with its own 95% bootstrap interval against
them, and the reference's claims tested on this profile's runs.

    reference = reference_numbers("homework")   # the profile's `reference_results:`, if it has one
    reference_columns("fcn8s", runs["fcn8s"], reference)
    claims_rows(runs, reference)

A run "reproduces the reference" when the reference's number lies inside the run's 95% interval
over its validation items; otherwise it is above or below it. A profile trained on other data
than the reference's (the sample) has no counterpart, and says so instead of inventing one.
"""
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..numbers import fmt
from ..runs.profiles import DRY_SUFFIX, ROOT, params_dir, profile_settings
from ..settings import read_yaml
from .evidence import compare_runs, format_difference, format_interval, run_interval

REFERENCE_RESULTS = ROOT / "params" / "reference_results.yaml"
NO_COUNTERPART = ("no reference counterpart: this profile's data is not the reference report's "
                  "(the course's hw2_data)")
DRY = "no reference comparison: a dry run at toy scale"
# Why a "Lovasz" number of the reference stands beside a cross-entropy control (one text for the
# page's summary and for notebook 03).
LOVASZ_BUG = ("The reference author's trainer passes the optimiser's name where the loss's belongs "
              "(`hw2/src/trainer.py`, `P2Trainer.__init__`: `loss_opt=optimizer_opt`, line 241), and "
              "`Trainer.__init__` falls back to cross-entropy for the unknown name 'Adam' (lines 47-50), "
              "so its \"Lovasz\" fine-tunes most likely trained with cross-entropy.")
SHORT = {NO_COUNTERPART: "none (other data)", DRY: "none (dry run)"}  # in a table's cell


@dataclass
class Reference:
    runs: dict = field(default_factory=dict)    # run -> {metric: {"value", "line", "quote"}}
    claims: list = field(default_factory=list)
    reason: str = NO_COUNTERPART                # why there is nothing to compare ("" when there is)

    def value(self, name, metric):
        """The reference's number for run `name`, or None."""
        entry = self.runs.get(name, {}).get(metric)
        return None if entry is None else entry["value"]


def read_reference_results(path):
    """The reference numbers file as a `Reference`; a malformed entry is an error naming it."""
    values = read_yaml(path)
    for name, metrics in (values.get("runs") or {}).items():
        for metric, entry in metrics.items():
            for e in entry if metric == "conflicting" else [entry]:
                if not {"value", "line", "quote"} <= set(e):
                    raise ConfigError(f"{path}: run {name}, {metric}: needs value, line and quote")
    for claim in values.get("claims") or []:
        if not {"text", "better", "worse"} <= set(claim):
            raise ConfigError(f"{path}: claim {claim}: needs text, better and worse")
    return Reference(values.get("runs") or {}, values.get("claims") or [], reason="")


def reference_numbers(profile, reference_results=None):
    """The reference for `profile`: its numbers from `reference_results` (a file) when given,
    else from the profile's own `reference_results:` setting; its claims, which any profile can
    test, from params/reference_results.yaml otherwise. A dry run compares nothing."""
    if profile.endswith(DRY_SUFFIX):
        return Reference(reason=DRY)
    named = profile_settings(profile).get("reference_results")
    if reference_results is None and named is None:
        return Reference(claims=read_reference_results(REFERENCE_RESULTS).claims)
    return read_reference_results(Path(reference_results) if reference_results else params_dir(profile) / named)


def verdict(interval, value):
    """"reproduces the reference (0.6973 lies inside [0.6812, 0.7120])", or above / below it."""
    where = f"[{fmt(interval.low)}, {fmt(interval.high)}]"
    if interval.low <= value <= interval.high:
        return f"reproduces the reference ({fmt(value)} lies inside {where})"
    side = "above" if interval.low > value else "below"
    return f"{side} the reference ({fmt(value)} lies outside {where})"


def reference_columns(name, run, reference):
    """The reference's columns of a results-table row: its score and val loss, the difference,
    the run's own interval, the verdict; or one column saying why there is none."""
    metric = run.record.metric
    value = reference.value(name, metric)
    if reference.reason:
        return {"reference": SHORT[reference.reason]}
    if value is None:
        return {"reference": "—"}
    interval = run_interval(run.dir)
    return {"reference": fmt(value), "reference val loss": fmt(reference.value(name, "val_loss")),
            "run − reference": fmt(interval.estimate - value, "+.4f"), "run's 95% CI": format_interval(interval),
            "verdict": verdict(interval, value)}


def reference_sentences(runs, reference):
    """One sentence per run with a reference counterpart (or one saying there is none)."""
    if reference.reason:
        return [f"There is {reference.reason[0].lower()}{reference.reason[1:]}."]
    out = []
    for name, run in runs.items():
        value = reference.value(name, run.record.metric)
        if value is None:
            continue
        interval = run_interval(run.dir)
        out.append(f"{name}: {run.record.task.metric_name} {format_interval(interval)} {verdict(interval, value)}.")
    return out


def claim_verdict(d):
    return {"higher": "holds", "lower": "contradicted", "tied": "not resolved (the interval includes zero)"}[d.verdict]


def claims_rows(runs, reference):
    """[(reference claim, its line, this report's number, verdict)] for every claim whose runs exist."""
    rows = []
    for claim in reference.claims:
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

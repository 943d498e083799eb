"""The reference report beside this one (the 2020 report this workbook reproduces): its numbers
(`params/reference_results.yaml`), each run against them, and its claims tested on this
profile's runs.

    reference = reference_numbers("homework")   # the profile's `reference_results:`, if it has one
    judge("fcn8s", runs["fcn8s"], reference)    # the one verdict: words, interval, what it covers
    claims_rows(runs, reference)

The reference's numbers are single trainings of the author's. The words follow the evidence:

- a profile that follows the reference's recipes (`reference_recipes: true`) with repeats:
  "reproduces the reference" when the reference's number lies inside the interval expected for
  one new training (`new_training_interval`: spread across trainings and tile sampling);
- with repeats but other recipes (homework): neutral, "at / above / below the reference's number";
- with one training: only whether the number lies inside this run's tile-sampling interval;
- no verdict when the interval is n/a or the run scored only part of its validation split.

A profile trained on other data than the reference's (the sample) has no counterpart, and says
so instead of inventing one; its runs still test the reference's claims.
"""
import math
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import ConfigError
from ..numbers import fmt
from ..runs.profiles import DRY_SUFFIX, ROOT, params_dir, profile_settings
from ..settings import read_yaml
from .evidence import compare_runs, format_interval, new_training_interval, run_interval

REFERENCE_RESULTS = ROOT / "params" / "reference_results.yaml"
NO_COUNTERPART = ("no reference counterpart: this profile's data is not the reference report's "
                  "(the course's hw2_data)")
DRY = "no reference comparison: a dry run at toy scale"
SHORT = {NO_COUNTERPART: "none (other data)", DRY: "none (dry run)"}  # in a table's cell
SCORES = ("val_miou", "val_acc")  # fractions in [0, 1]
# Why a "Lovasz" number of the reference stands beside a cross-entropy control (one text for the
# page's summary and for notebook 03).
LOVASZ_BUG = ("The reference author's trainer passes the optimiser's name where the loss's belongs "
              "(`hw2/src/trainer.py`, `P2Trainer.__init__`: `loss_opt=optimizer_opt`, line 241), and "
              "`Trainer.__init__` falls back to cross-entropy for the unknown name 'Adam' (lines 47-50), "
              "so its \"Lovasz\" fine-tunes most likely trained with cross-entropy: their numbers stand "
              "beside both the Lovasz run and its cross-entropy control here.")


@dataclass
class Reference:
    runs: dict = field(default_factory=dict)    # run -> {metric: {"value", "line", "quote"}, "also": run}
    claims: list = field(default_factory=list)
    reason: str = NO_COUNTERPART                # why there is nothing to compare ("" when there is)
    follows_recipes: bool = False               # the profile trains with the reference's recipes

    def source(self, name):
        """The reference's run that run `name` stands beside: itself, or the run whose `also`
        names it (the "Lovasz" runs' cross-entropy controls); None without one."""
        if name in self.runs:
            return name
        return next((run for run, entry in self.runs.items() if entry.get("also") == name), None)

    def entry(self, name, metric):
        source = self.source(name)
        return None if source is None else self.runs[source].get(metric)

    def value(self, name, metric):
        """The reference's number for run `name`, or None."""
        entry = self.entry(name, metric)
        return None if entry is None else entry["value"]


def read_reference_results(path):
    """The reference numbers file as a `Reference`; a malformed entry, or a score that is not a
    fraction (69.73 for 0.6973), is an error naming it."""
    values = read_yaml(path)
    for name, metrics in (values.get("runs") or {}).items():
        for metric, entry in metrics.items():
            if metric == "also":
                continue
            for e in entry if metric == "conflicting" else [entry]:
                if not {"value", "quote"} <= set(e) or not {"line", "source"} & set(e):
                    raise ConfigError(f"{path}: run {name}, {metric}: needs value, quote, and line or source")
                scored = e.get("metric", metric)
                if scored in SCORES and not 0 <= e["value"] <= 1:
                    raise ConfigError(f"{path}: run {name}, {scored}: {e['value']} is not a fraction in [0, 1] "
                                      f"(write 69.73% as 0.6973)")
    for claim in values.get("claims") or []:
        needs = {"does_not_beat": {"subject", "other"}, "best": {"subject"}}.get(claim.get("kind"), {"better", "worse"})
        if not {"text", *needs} <= set(claim):
            raise ConfigError(f"{path}: claim {claim}: needs text and {', '.join(sorted(needs))}")
    return Reference(values.get("runs") or {}, values.get("claims") or [], reason="")


def reference_numbers(profile, reference_results=None):
    """The reference for `profile`: its numbers from `reference_results` (a file) when given,
    else from the profile's own `reference_results:` setting; its claims, which any profile can
    test, from params/reference_results.yaml otherwise. A dry run compares nothing."""
    if profile.endswith(DRY_SUFFIX):
        return Reference(reason=DRY)
    settings = profile_settings(profile)
    named = settings.get("reference_results")
    if reference_results is None and named is None:
        return Reference(claims=read_reference_results(REFERENCE_RESULTS).claims)
    reference = read_reference_results(Path(reference_results) if reference_results else params_dir(profile) / named)
    reference.follows_recipes = bool(settings.get("reference_recipes", False))
    return reference


@dataclass
class Verdict:
    """A run against the reference's number: the words, and the interval they rest on."""
    value: float
    interval: object    # the Interval compared with (None when there is no verdict)
    words: str


def judge(name, run, reference):
    """The verdict on run `name` against the reference's number for it, or None without one."""
    metric = run.record.metric
    value = reference.value(name, metric)
    if value is None:
        return None
    partial = run.record.partial_validation()
    if partial:
        return Verdict(value, None, f"no verdict: {partial}, the reference scored all of them")
    repeated = len(run.repeats) > 1
    interval = new_training_interval(run) if repeated else run_interval(run)
    if math.isnan(interval.low) or math.isnan(interval.high):
        return Verdict(value, None, "no verdict: the interval is n/a")
    where = f"[{fmt(interval.low)}, {fmt(interval.high)}]"
    inside = interval.low <= value <= interval.high
    side = "above" if interval.low > value else "below"
    if not repeated:
        return Verdict(value, interval, f"the reference's {fmt(value)} lies {'inside' if inside else 'outside'} this "
                                        f"run's {interval.noun}-sampling interval {where} (1 training)")
    expected = f"{where}, where one new training is expected to score ({interval.covers})"
    if reference.follows_recipes:
        words = (f"reproduces the reference ({fmt(value)} lies inside {expected})" if inside else
                 f"does not reproduce the reference: this recipe scores {side} its {fmt(value)} ({expected})")
    else:
        words = (f"at the reference's number ({fmt(value)} lies inside {expected})" if inside else
                 f"{side} the reference's number ({fmt(value)} lies outside {expected})")
    return Verdict(value, interval, words)


def run_label(name, reference):
    """How the reference's number is labelled beside run `name` (its own, or another run's)."""
    source = reference.source(name)
    return "" if source in (None, name) else f" (its {source.replace('_', ' ')} run)"


def reference_columns(name, run, reference):
    """The reference's columns of a results-table row: its score and val loss, this run's
    interval and the verdict; or one column saying why there is none."""
    if reference.reason:
        return {"reference": SHORT[reference.reason]}
    verdict = judge(name, run, reference)
    if verdict is None:
        return {"reference": "—"}
    return {"reference": fmt(verdict.value) + run_label(name, reference),
            "reference val loss (cross-entropy)": fmt(reference.value(name, "val_loss")),
            "interval compared": "—" if verdict.interval is None else format_interval(verdict.interval),
            "verdict": verdict.words}


def reference_sentences(runs, reference):
    """One sentence per run with a reference counterpart (or one saying there is none)."""
    if reference.reason:
        return [f"There is {reference.reason[0].lower()}{reference.reason[1:]}."]
    out = []
    for name, run in runs.items():
        verdict = judge(name, run, reference)
        if verdict is not None:
            out.append(f"{name}: {run.record.task.metric_name} against the reference's {fmt(verdict.value)}"
                       f"{run_label(name, reference)}: {verdict.words}.")
    return out


def conflict_lines(reference):
    """Where the reference contradicts itself: every conflicting number beside the one compared."""
    out = []
    for name, metrics in reference.runs.items():
        for e in metrics.get("conflicting", []):
            compared = metrics[e["metric"]]
            where = f"line {e['line']}" if "line" in e else e["source"]
            out.append(f"The reference gives {name} {fmt(compared['value'])} (line {compared['line']}) and also "
                       f"{fmt(e['value'])} ({where}: {e['note']}); the first is compared.")
    return out


def claim_verdict(d):
    return {"higher": "holds", "lower": "contradicted", "tied": "not resolved (the interval includes zero)"}[d.verdict]


def _beats(claim, runs, boundary):
    better, worse = claim["better"], claim["worse"]
    d = compare_runs(runs[worse], runs[better])
    number, text = f"{better} − {worse}: {format_interval(d, signed=True)}", claim_verdict(d)
    control = claim.get("control")
    if control in runs:
        loss_only = compare_runs(runs[control], runs[better])
        epochs_only = compare_runs(runs[worse], runs[control])
        number += (f"; more epochs alone ({control} − {worse}): {format_interval(epochs_only, signed=True)}; "
                   f"the loss alone ({better} − {control}): {format_interval(loss_only, signed=True)}")
        text += f"; the loss itself: {claim_verdict(loss_only)}"
    return number, text


def _does_not_beat(claim, runs, boundary):
    subject, other = claim["subject"], claim["other"]
    d = compare_runs(runs[other], runs[subject])
    text = "contradicted" if d.verdict == "higher" else "holds"
    return f"{subject} − {other}: {format_interval(d, signed=True)}", text


def _finer(claim, runs, boundary):
    better, worse = claim["better"], claim["worse"]
    d = boundary(runs, better, worse)
    return f"{better} − {worse} on boundary pixels: {format_interval(d, signed=True)}", claim_verdict(d)


def _best(claim, runs, boundary):
    subject = claim["subject"]
    task = runs[subject].record.task.name
    others = [n for n, r in runs.items() if n != subject and r.record.task.name == task]
    gaps = {n: compare_runs(runs[n], runs[subject]) for n in others}
    verdicts = {d.verdict for d in gaps.values()}
    text = "contradicted" if "lower" in verdicts else "holds" if verdicts <= {"higher"} else \
        "not resolved (some interval includes zero)"
    closest = min(gaps, key=lambda n: gaps[n].estimate) if gaps else None
    number = (f"against the {len(others)} other models; closest, {subject} − {closest}: "
              f"{format_interval(gaps[closest], signed=True)}" if closest else "no other model")
    return number, text


CLAIMS = {"beats": (_beats, ("better", "worse")), "does_not_beat": (_does_not_beat, ("subject", "other")),
          "finer": (_finer, ("better", "worse")), "best": (_best, ("subject",))}


def claims_rows(runs, reference, boundary=None):
    """[(reference claim, its line, this report's number, verdict)] for every claim whose runs
    exist. `boundary(runs, better, worse)` gives the boundary-band difference (an Interval) that
    a "finer" claim rests on; without it such claims are left out."""
    rows = []
    for claim in reference.claims:
        test, names = CLAIMS[claim.get("kind", "beats")]
        if not all(claim[k] in runs for k in names) or (test is _finer and boundary is None):
            continue
        number, text = test(claim, runs, boundary)
        rows.append((claim["text"], claim.get("line"), number, text))
    return rows

"""The report page: the summary against the reference report, provenance, results, the
executed notebooks in the page's order, and the appendix that only prints.

It writes what the run records and the executed notebooks hold; it trains and executes
nothing (`build.py` does, `notebooks.py` runs the notebooks). The page loads nothing from the
network: every image is embedded, the template inlines its styles.
"""
import html
from datetime import datetime, timezone
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter

from ..analysis.boundary import boundary_difference
from ..analysis.evidence import format_interval, run_interval
from ..analysis.findings import results_table
from ..analysis.reference import LOVASZ_BUG, claims_rows, conflict_lines, judge
from ..engine.provenance import git_commit
from ..engine.run_dir import RunDir
from ..numbers import fmt
from ..runs.profiles import DRY_RUN, DRY_SUFFIX, ROOT, repeat_names, run_names, run_settings
from ..runs.reuse import Run
from .notebooks import page_order

TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def to_html(nb, exclude_input=False):
    """HTML with every image embedded and nothing fetched from the network (see the template)."""
    exporter = HTMLExporter(template_name="offline", extra_template_basedirs=[str(TEMPLATES)],
                            embed_images=True, exclude_input=exclude_input,
                            exclude_input_prompt=True, exclude_output_prompt=True)
    return exporter.from_notebook_node(nb)[0]


def folder_size(path):
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def finished_runs(profile, data_root, overrides=(), repeats=None):
    """{name: Run} of every run of the profile that has a complete record (after `hw2 runs`: all)."""
    runs = {}
    for name in run_names(profile, repeats):
        settings = run_settings(profile, name, data_root, overrides)
        folder = RunDir(settings.place.out_dir)
        record = folder.record() if folder.has_record() else None
        if record is not None and record.complete:
            runs[name] = Run(name, settings, record)
    for name, run in runs.items():
        run.repeats = [runs[n] for n in repeat_names(profile, name, repeats) if n in runs]
    return runs


def markdown_table(frame):
    """A DataFrame as a markdown table (its index first)."""
    def cell(value):
        return html.escape(str(value)).replace("|", "\\|")
    head = ["", *frame.columns]
    lines = ["| " + " | ".join(cell(h) for h in head) + " |", "|---" * len(head) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in [index, *row]) + " |" for index, row in frame.iterrows()]
    return "\n".join(lines)


def results(runs, reference):
    """A results table per task (the reference beside each run), with train time and disk."""
    tables = []
    for task in dict.fromkeys(run.record.task.name for run in runs.values()):
        group = {name: run for name, run in runs.items() if run.record.task.name == task}
        frame = results_table(group, reference)
        frame["train time"] = [f"{run.record.train_seconds:.0f} s" for run in group.values()]
        frame["on disk"] = [f"{folder_size(run.dir.path) / 1e6:,.0f} MB" for run in group.values()]
        tables.append(f"**{task.capitalize()}**\n\n{markdown_table(frame)}")
    return "\n\n".join(tables)


def summary(runs, reference):
    """The reference's numbers and claims, this report's beside them, and the verdicts (one
    verdict function: `reference.judge`), then where the reference contradicts itself."""
    lines = ["| the reference report says | this report | verdict |", "|---|---|---|"]
    for name, run in runs.items():
        verdict = judge(name, run, reference)
        if verdict is not None:
            entry = reference.entry(name, run.record.metric)
            shown = "—" if verdict.interval is None else format_interval(run_interval(run))
            lines.append(f"| {reference.source(name)}: {run.record.task.metric_name} {fmt(verdict.value)} "
                         f"(line {entry['line']}), beside {name} | {shown} | {verdict.words} |")
    for claim, line, number, text in claims_rows(runs, reference, boundary_difference):
        lines.append(f"| {claim} (line {line}) | {number} | {text} |")
    where = ("This profile trains on the reference report's data: each of its numbers (one training of the "
             "author's) stands beside this report's, with what the interval compared covers."
             if not reference.reason else
             f"There is {reference.reason}; the reference's claims about which model is better are tested "
             "on this profile's data instead.")
    if len(lines) == 2:
        return f"{where}\n\nNo claim of the reference report can be tested with this profile's runs."
    note = LOVASZ_BUG
    if any({c.get("better"), c.get("worse"), c.get("control")} <= set(runs) for c in reference.claims
           if c.get("control")):
        note += " Their gain is then the \"more epochs alone\" number above."
    notes = "\n".join(f"- {line}" for line in [note, *conflict_lines(reference)])
    return f"{where}\n\n" + "\n".join(lines) + f"\n\n{notes}"


def training_logs(runs):
    """Each run's epochs, one line each, as training printed them."""
    lines = []
    for name, run in runs.items():
        metric, epochs = run.record.metric, run.settings.train.epochs
        lines += [f"{name}  epoch {r['epoch']}/{epochs}  train_loss {fmt(r['train_loss'])}  val_loss "
                  f"{fmt(r['val_loss'])}  {metric} {fmt(r[metric])}  ({r['seconds']:.1f}s)"
                  for r in run.record.history]
    return "\n".join(lines)


def folded(summary_text, text):
    """Text that folds away on the page (closed) and prints in the appendix only."""
    return (f'<details class="fold"><summary>{html.escape(summary_text)}</summary>'
            f"<pre>{html.escape(text)}</pre></details>")


def appendix(executed, logs):
    """The folded texts again, for print: the layer tables and the training logs."""
    parts = []
    for notebook in page_order():
        for cell in executed[notebook].cells:
            if "fold" in cell.metadata.get("tags", []):
                text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
                if text.strip():
                    parts.append(f"<h2>{html.escape(cell.metadata.get('summary', ''))} ({notebook})</h2>"
                                 f"<pre>{html.escape(text)}</pre>")
    parts.append(f"<h2>Training logs</h2><pre>{html.escape(logs)}</pre>")
    return '<section class="appendix"><h1>Appendix</h1>' + "".join(parts) + "</section>"


def per_run(runs, what):
    """One value when every run shares it, else "value (runs), value (runs)"."""
    values = {}
    for name, run in runs.items():
        values.setdefault(what(run), []).append(name)
    if len(values) <= 1:
        return next(iter(values), "?")
    return "; ".join(f"{value} ({', '.join(names)})" for value, names in values.items())


def provenance(profile, runs, seconds):
    data = {}
    for run in runs.values():
        root = Path(run.settings.place.data_root)
        shown = root.relative_to(ROOT) if root.is_relative_to(ROOT) else root
        parts = run.record.key_parts.get("data", {})
        data[shown] = ", ".join(f"{split} {digest[:12]}" for split, digest in parts.items())
    disk = sum(folder_size(run.dir.path) for run in runs.values())
    rows = {
        "profile": profile,
        "data (content fingerprints)": "; ".join(f"{root} ({prints})" for root, prints in data.items()),
        "device": per_run(runs, lambda r: f"{r.record.environment.get('device', '?')} "
                                          f"({r.record.environment.get('device_name', '?')})"),
        "CPU": per_run(runs, lambda r: f"{r.record.environment.get('cpu', '?')} (vector capability "
                                       f"{r.record.environment.get('cpu_capability', '?')})"),
        "precision": per_run(runs, lambda r: r.record.environment.get("precision", "?")),
        "torch": per_run(runs, lambda r: r.record.environment.get("torch", "?")),
        "git commit": git_commit() or "not a git checkout",
        "run folders on disk": f"{disk / 1e9:.2f} GB",
        "report wall time": f"{seconds:.0f} s",
        "built": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    return "\n".join(["| | |", "|---|---|"] + [f"| {k} | {html.escape(str(v))} |" for k, v in rows.items()])


def dry_run_banner(profile, overrides=()):
    scale = "; ".join(f"{task}: " + ", ".join(f"{k} {v}" for k, v in values.items())
                      for task, values in DRY_RUN.items())
    changed = f"; then `--set {' '.join(overrides)}`" if overrides else ""
    return (f"> **This is a dry run** of profile `{profile.removesuffix(DRY_SUFFIX)}` at toy scale "
            f"({scale}; precision auto{changed}). It proves that the data, the weights, "
            "every model, every notebook and this page work; its numbers are not results.\n\n")


def write_page(executed, runs, profile, seconds, reference, overrides=()):
    """The report as one notebook: title, summary, provenance, results, then the notebooks in
    the page's order (each problem heads its own section), then the appendix that only prints;
    returned as HTML. A dry run's page says its scale, with the build's `overrides`."""
    banner = dry_run_banner(profile, overrides) if profile.endswith(DRY_SUFFIX) else ""
    logs = training_logs(runs)
    cells = [nbformat.v4.new_markdown_cell(
        f"# hw2 report — profile `{profile}`\n\n{banner}## Summary: the reference report's claims, tested "
        f"here\n\n{summary(runs, reference)}\n\n## Provenance\n\n{provenance(profile, runs, seconds)}\n\n"
        f"## Results\n\nEach run's score is at its kept epoch (the header names the rule), beside the final "
        f"epoch's.\n\n{results(runs, reference)}\n\n{folded('Training logs (one line per epoch)', logs)}")]
    for name in page_order():
        cells += [c for c in executed[name].cells if "parameters" not in c.metadata.get("tags", [])
                  and "injected-parameters" not in c.metadata.get("tags", [])]
    cells.append(nbformat.v4.new_markdown_cell(appendix(executed, logs)))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = next(iter(executed.values())).metadata
    return to_html(nb, exclude_input=True)

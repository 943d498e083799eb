"""`make report`: train or reuse every run, execute the notebooks with papermill, export HTML,
assemble one report page.

    hw2 report --profile sample                    # what `make report` runs
    hw2 report --profile homework --data-root ~/hw2_data [--parallel N | --address auto]
    hw2 report --profile homework --data-root ~/hw2_data --dry-run   # toy scale, minutes, CPU

The runs train first, as `hw2 runs` trains them (`runs/graph.py`); the notebooks then only read
finished runs (`train_missing=False`), so a run that would still need training is an error that
names it. Each notebook runs with `params/<profile>/<notebook>.yaml` (plus `profile` and `data_root`); the
executed copies go to `build/notebooks/<profile>/`, their HTML (images embedded) to
`build/report/<profile>/`, and `build/report/report.html` is ONE self-contained page in the seed
report's order, with a results table from the runs' `metrics.json` and a provenance block. It
loads nothing from the network. A failing notebook stops the build, naming the notebook and cell,
and its executed copy (with the error) is kept. A dry run writes `runs/<profile>-dry/`,
`build/report/<profile>-dry/` and the page `build/report/<profile>-dry.html`.
"""
import contextlib
import html
import os
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import datetime, timezone
from pathlib import Path

import nbformat
import papermill as pm
import torch
from jupyter_client import AsyncKernelManager
from nbclient.exceptions import DeadKernelError
from nbconvert import HTMLExporter

from ..analysis.evidence import format_interval, run_interval
from ..analysis.findings import results_table
from ..analysis.seed import claims_rows, seed_numbers, verdict
from ..atomic import write_text
from ..config import read_yaml
from ..engine.provenance import git_commit
from ..engine.run_dir import RunDir
from ..engine.run_key import data_fingerprint
from ..errors import ReportError
from ..numbers import fmt
from ..runs.graph import outcome_table, train_all
from ..runs.profiles import DRY_RUN, DRY_SUFFIX, OVERRIDES, ROOT, params_dir, repeats, run_config, run_names
from ..runs.reuse import Run
from ..tasks import make_task

RUN_ORDER = ["01_classification", "02_fcn32s", "03_fcn8s", "04_ablation_fcn4s_2s", "05_tsne"]
NOTEBOOKS_AT_ONCE = min(2, os.cpu_count() or 1)  # measured: 5 smoke notebooks 40 s one by one, 25 s two at once
PAGE_ORDER = ["01_classification", "05_tsne", "02_fcn32s", "03_fcn8s", "04_ablation_fcn4s_2s"]  # the seed's
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@contextlib.contextmanager
def temporary_environ(**variables):
    """Set environment variables (inherited by the notebooks' kernels) for the duration."""
    saved = {k: os.environ.get(k) for k in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def kernels_on_unix_sockets(folder):
    """A kernel manager class whose kernels talk over unix sockets in `folder` (ipc), not over
    unencrypted TCP ports; one folder per notebook, so several can run at once. It is the async
    manager nbclient uses by default: with a blocking one, a kernel that dies is never noticed."""
    class IpcKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(transport="ipc", ip=str(Path(folder) / "kernel"), **kwargs)
    return IpcKernelManager


def execute(notebook, profile, data_root, out_path, overrides=None):
    """Run one notebook with its profile's parameters (and `overrides` of them); return the
    executed notebook."""
    params = read_yaml(params_dir(profile) / f"{notebook}.yaml")
    # A batch build reads finished runs only: `hw2 runs` has trained them.
    params.update(profile=profile, data_root=data_root, train_missing=False, **(overrides or {}))
    return run_notebook(ROOT / "notebooks" / f"{notebook}.ipynb", out_path, params)


def run_notebook(path, out_path, params):
    """papermill on one notebook, in its own folder; a failed cell or a dead kernel becomes a
    ReportError naming the notebook, and the executed copy is kept at `out_path`."""
    name = f"{Path(path).parent.name}/{Path(path).name}"
    where = f"the executed notebook, with the error, is kept at {out_path}"
    sockets = tempfile.mkdtemp(prefix="hw2-kernel-")
    try:  # the kernel inherits HW2_PROGRESS=0: one log line per epoch, no progress bars
        with temporary_environ(HW2_PROGRESS="0"):
            pm.execute_notebook(path, out_path, parameters=params, cwd=Path(path).parent,
                                kernel_name="python3", progress_bar=False, log_output=False,
                                kernel_manager_class=kernels_on_unix_sockets(sockets))
    except pm.PapermillExecutionError as e:
        raise ReportError(f"{name} failed in cell {e.cell_index} (execution count "
                          f"{e.exec_count}): {e.ename}: {e.evalue}\n{where}") from None
    except DeadKernelError:
        raise ReportError(f"{name}: its kernel died (a crash in native code, or out of memory); "
                          f"{where}") from None
    finally:
        shutil.rmtree(sockets, ignore_errors=True)
    return nbformat.read(out_path, as_version=4)


def static_outputs(nb):
    """Drop live-widget views, and widget state: without a kernel a widget view is a blank box
    that would need JavaScript from a CDN. The MaskInspector's output carries its own page
    inspector (text/html) beside the view, which takes its place."""
    nb.metadata.pop("widgets", None)
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if WIDGET_VIEW in data:
                del data[WIDGET_VIEW]
    return nb


TEMPLATES = Path(__file__).resolve().parents[1] / "templates"


def to_html(nb, exclude_input=False):
    """HTML with every image embedded and nothing fetched from the network (see the template)."""
    exporter = HTMLExporter(template_name="offline", extra_template_basedirs=[str(TEMPLATES)],
                            embed_images=True, exclude_input=exclude_input,
                            exclude_input_prompt=True, exclude_output_prompt=True)
    return exporter.from_notebook_node(nb)[0]


def folder_size(path):
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def finished_runs(profile, data_root):
    """{name: Run} of every run of the profile that has a record (after `hw2 runs`: all)."""
    runs = {}
    for name in run_names(profile):
        cfg = run_config(profile, name, data_root)
        run = RunDir(cfg["out_dir"])
        record = run.record() if run.has_record() else {}
        if record.get("complete"):
            runs[name] = Run(name, cfg, record)
    for name, run in runs.items():
        run.repeats = [runs[n] for n in repeats(profile, name) if n in runs]
    return runs


def markdown_table(frame):
    """A DataFrame as a markdown table (its index first)."""
    def cell(value):
        return html.escape(str(value)).replace("|", "\\|")
    head = ["", *frame.columns]
    lines = ["| " + " | ".join(cell(h) for h in head) + " |", "|---" * len(head) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in [index, *row]) + " |" for index, row in frame.iterrows()]
    return "\n".join(lines)


def results(runs, seed):
    """A results table per task (with the seed beside each run), with train time and disk."""
    tables = []
    for task in dict.fromkeys(make_task(run.cfg).name for run in runs.values()):
        group = {name: run for name, run in runs.items() if make_task(run.cfg).name == task}
        frame = results_table(group, seed)
        frame["train time"] = [f"{run.record['train_seconds']:.0f} s" for run in group.values()]
        frame["on disk"] = [f"{folder_size(run.dir.path) / 1e6:,.0f} MB" for run in group.values()]
        tables.append(f"**{task.capitalize()}**\n\n{markdown_table(frame)}")
    return "\n\n".join(tables)


def summary(runs, seed):
    """The seed's claims and numbers, this report's beside them, and the verdicts."""
    lines = ["| the seed says | this report | verdict |", "|---|---|---|"]
    for name, run in runs.items():
        task = make_task(run.cfg)
        value = seed.value(name, task.metric)
        if value is not None:
            interval = run_interval(run.dir)
            entry = seed.runs[name][task.metric]
            lines.append(f"| {name}: {task.metric_name} {fmt(value)} (line {entry['line']}) | "
                         f"{format_interval(interval)} | {verdict(interval, value)} |")
    for claim, line, number, text in claims_rows(runs, seed):
        lines.append(f"| {claim} (line {line}) | {number} | {text} |")
    where = ("This profile trains on the seed's data: each seed number stands beside this report's, "
             "with the run's 95% bootstrap interval over its validation items." if not seed.reason else
             f"There is {seed.reason}; the seed's claims about which model is better are tested on "
             "this profile's data instead.")
    note = ("The seed's trainer passes the optimiser's name where the loss's belongs "
            "(`P2Trainer.__init__`: `loss_opt=optimizer_opt`), so its \"Lovasz\" fine-tunes most likely "
            "trained with cross-entropy.")
    if len(lines) == 2:
        return f"{where}\n\nNo claim of the seed can be tested with this profile's runs."
    if any({c["better"], c["worse"], c.get("control")} <= set(runs) for c in seed.claims):
        note += " Their gain is then the \"more epochs alone\" number above."
    return f"{where}\n\n" + "\n".join(lines) + f"\n\n{note}"


def training_logs(runs):
    """Each run's epochs, one line each, as training printed them."""
    lines = []
    for name, run in runs.items():
        metric, epochs = make_task(run.cfg).metric, run.record["params"]["epochs"]
        lines += [f"{name}  epoch {r['epoch']}/{epochs}  train_loss {fmt(r['train_loss'])}  val_loss "
                  f"{fmt(r['val_loss'])}  {metric} {fmt(r[metric])}  ({r['seconds']:.1f}s)"
                  for r in run.record["history"]]
    return "\n".join(lines)


def folded(summary_text, text):
    """Text that folds away on the page (closed) and prints in the appendix only."""
    return (f'<details class="fold"><summary>{html.escape(summary_text)}</summary>'
            f"<pre>{html.escape(text)}</pre></details>")


def appendix(executed, logs):
    """The folded texts again, for print: the printed networks and the training logs."""
    parts = []
    for notebook in PAGE_ORDER:
        for cell in executed[notebook].cells:
            if "fold" in cell.metadata.get("tags", []):
                text = "".join(o.get("text", "") for o in cell.get("outputs", []) if o.get("output_type") == "stream")
                if text.strip():
                    parts.append(f"<h2>{html.escape(cell.metadata.get('summary', ''))} ({notebook})</h2>"
                                 f"<pre>{html.escape(text)}</pre>")
    parts.append(f"<h2>Training logs</h2><pre>{html.escape(logs)}</pre>")
    return '<section class="appendix"><h1>Appendix</h1>' + "".join(parts) + "</section>"


def provenance(profile, runs, seconds):
    roots = sorted({run.cfg["data_root"] for run in runs.values()})
    env = next((run.record["environment"] for run in runs.values()), {})
    disk = sum(folder_size(run.dir.path) for run in runs.values())
    rows = {
        "profile": profile,
        "data": "; ".join(f"{Path(r).relative_to(ROOT) if Path(r).is_relative_to(ROOT) else r} "
                          f"(fingerprint {data_fingerprint(r)[:12]})" for r in roots),
        "device": f"{env.get('device', '?')} ({env.get('device_name', '?')})",
        "CPU": f"{env.get('cpu', '?')} (vector capability {env.get('cpu_capability', '?')})",
        "precision": env.get("precision", "?"),
        "torch": torch.__version__,
        "git commit": git_commit() or "not a git checkout",
        "run folders on disk": f"{disk / 1e9:.2f} GB",
        "report wall time": f"{seconds:.0f} s",
        "built": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    return "\n".join(["| | |", "|---|---|"] + [f"| {k} | {html.escape(str(v))} |" for k, v in rows.items()])


def dry_run_banner(profile):
    scale = "; ".join(f"{task}: " + ", ".join(f"{k} {v}" for k, v in values.items())
                      for task, values in DRY_RUN.items())
    return (f"> **This is a dry run** of profile `{profile.removesuffix(DRY_SUFFIX)}` at toy scale "
            f"({scale}; precision auto). It proves that the data, the weights, "
            "every model, every notebook and this page work; its numbers are not results.\n\n")


def combined(executed, profile, data_root, seconds, seed):
    """One notebook: title, summary, provenance, results, then the notebooks in the seed report's
    order (each problem heads its own section), then the appendix that only prints."""
    runs = finished_runs(profile, data_root)
    banner = dry_run_banner(profile) if profile.endswith(DRY_SUFFIX) else ""
    logs = training_logs(runs)
    cells = [nbformat.v4.new_markdown_cell(
        f"# hw2 report — profile `{profile}`\n\n{banner}## Summary: the seed report's claims, tested here"
        f"\n\n{summary(runs, seed)}\n\n## Provenance\n\n{provenance(profile, runs, seconds)}\n\n"
        f"## Results\n\nEach run's score is at its kept epoch (the header names the rule), beside the final "
        f"epoch's.\n\n{results(runs, seed)}\n\n{folded('Training logs (one line per epoch)', logs)}")]
    for name in PAGE_ORDER:
        cells += [c for c in executed[name].cells if "parameters" not in c.metadata.get("tags", [])
                  and "injected-parameters" not in c.metadata.get("tags", [])]
    cells.append(nbformat.v4.new_markdown_cell(appendix(executed, logs)))
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = executed[RUN_ORDER[0]].metadata
    return nb


def build_report(profile="sample", data_root=None, *, dry_run=False, overrides=(), graph=None,
                 seed_results=None, log=print):
    """Train or reuse every run (`hw2 runs`), run every notebook on the finished runs, and write
    the report; return the report's path. `overrides` ("key=value") apply to every run of the
    profile (e.g. precision=bf16); `graph` says how the runs are placed (see `train_all`);
    `seed_results` names another seed numbers file than the profile's."""
    with temporary_environ(**{OVERRIDES: " ".join(overrides)}):  # read by profiles, in the kernels too
        return _build(profile, data_root, dry_run, graph or {}, seed_results, log)


def _build(profile, data_root, dry_run, graph, seed_results, log):
    started = time.time()
    for run in run_names(profile):
        run_config(profile, run, data_root)  # an unknown profile or a bad run config fails before any work
    name = profile + (DRY_SUFFIX if dry_run else "")
    outcomes = train_all(name, data_root, log=log, **graph)
    log(outcome_table(outcomes))
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise ReportError("runs did not finish, so the report is not built: "
                          + "; ".join(f"{o.name}: {o.action} ({o.result})" for o in failed))
    nb_dir = ROOT / "build" / "notebooks" / name
    html_dir = ROOT / "build" / "report" / name
    figures = ROOT / "figures" / name
    shutil.rmtree(figures, ignore_errors=True)  # only this build's figures stay
    nb_dir.mkdir(parents=True, exist_ok=True)
    extra = {} if seed_results is None else {"seed_results": str(Path(seed_results).resolve())}
    log(f"running {len(RUN_ORDER)} notebooks ({name}), {NOTEBOOKS_AT_ONCE} at a time")
    # The notebooks only read finished runs, so they can run side by side: each in its own kernel.
    with ProcessPoolExecutor(NOTEBOOKS_AT_ONCE) as pool:
        jobs = {notebook: pool.submit(execute, notebook, name, data_root, nb_dir / f"{notebook}.ipynb", extra)
                for notebook in RUN_ORDER}
        executed = {notebook: static_outputs(job.result()) for notebook, job in jobs.items()}
    for notebook, nb in executed.items():
        write_text(html_dir / f"{notebook}.html", to_html(nb))
    log(f"  done in {time.time() - started:.0f} s -> {html_dir}/")
    report = ROOT / "build" / "report" / (f"{name}.html" if dry_run else "report.html")
    seed = seed_numbers(name, seed_results)
    page = to_html(combined(executed, name, data_root, time.time() - started, seed), exclude_input=True)
    write_text(report, page)
    log(f"wrote {report} ({len(page) / 1e6:.1f} MB) in {time.time() - started:.0f} s")
    return report

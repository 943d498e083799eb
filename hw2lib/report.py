"""`make report`: execute the notebooks with papermill, export HTML, assemble one report page.

    hw2 report --profile sample                    # what `make report` runs
    hw2 report --profile homework --data-root ~/hw2_data
    hw2 report --profile homework --data-root ~/hw2_data --dry-run   # toy scale, minutes, CPU

Each notebook runs with `params/<profile>/<notebook>.yaml` (plus `profile` and `data_root`); the
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
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from .atomic import write_text
from .config import read_yaml
from .errors import ReportError
from .profiles import DRY_RUN, DRY_SUFFIX, OVERRIDES, ROOT, config, params_dir, run_names
from .provenance import git_commit
from .run_cache import data_fingerprint
from .run_dir import RunDir

RUN_ORDER = ["01_classification", "02_fcn32s", "03_fcn8s", "04_ablation_fcn4s_2s", "05_tsne"]
SECTIONS = [  # the seed report's structure: (heading, notebooks)
    ("Problem 1: image classification", ["01_classification", "05_tsne"]),
    ("Problem 2: semantic segmentation", ["02_fcn32s", "03_fcn8s"]),
    ("Ablation: FCN4s and FCN2s", ["04_ablation_fcn4s_2s"]),
]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@contextlib.contextmanager
def environment(**variables):
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


def execute(notebook, profile, data_root, out_path, overrides=None):
    """Run one notebook with its profile's parameters (and `overrides` of them); return the
    executed notebook."""
    import papermill as pm
    from jupyter_client import KernelManager

    params = read_yaml(params_dir(profile) / f"{notebook}.yaml")
    params.update(profile=profile, data_root=data_root, **(overrides or {}))
    # A local kernel talks over unix sockets (ipc), not unencrypted TCP ports.
    kernel = KernelManager(kernel_name="python3", transport="ipc")
    try:  # the kernel inherits HW2_PROGRESS=0: one log line per epoch, no progress bars
        with environment(HW2_PROGRESS="0"):
                pm.execute_notebook(ROOT / "notebooks" / f"{notebook}.ipynb", out_path, parameters=params,
                                cwd=ROOT / "notebooks", kernel_name="python3", progress_bar=False,
                                log_output=False, km=kernel)
    except pm.PapermillExecutionError as e:
        raise ReportError(
            f"notebooks/{notebook}.ipynb failed in cell {e.cell_index} (execution count "
            f"{e.exec_count}): {e.ename}: {e.evalue}\n"
            f"the executed notebook, with the error, is kept at {out_path}") from None
    finally:  # a kernel manager we made is ours to stop
        if kernel.has_kernel:
            kernel.shutdown_kernel(now=True)
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


TEMPLATES = Path(__file__).parent / "templates"


def to_html(nb, exclude_input=False):
    """HTML with every image embedded and nothing fetched from the network (see the template)."""
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(template_name="offline", extra_template_basedirs=[str(TEMPLATES)],
                            embed_images=True, exclude_input=exclude_input,
                            exclude_input_prompt=True, exclude_output_prompt=True)
    return exporter.from_notebook_node(nb)[0]


def run_records(profile, data_root):
    """(name, config, RunDir, metrics record or None) for every run of the profile."""
    out = []
    for name in run_names(profile):
        cfg = config(profile, name, data_root)
        run = RunDir(cfg["out_dir"])
        out.append((name, cfg, run, run.record() if run.has_record() else None))
    return out


def folder_size(path):
    return sum(p.stat().st_size for p in Path(path).rglob("*") if p.is_file())


def runs_table(records):
    """Markdown table of every run that has a metrics record."""
    from .findings import collapsed_class
    from .tasks import make_task

    lines = ["| run | model | epochs | best epoch on validation | score (best epoch) | val loss (best) "
             "| final epoch score | collapsed | train time | on disk |", "|---" * 10 + "|"]
    for name, cfg, run, r in records:
        if r is None:
            continue
        task = make_task(r["params"])
        metric, label = task.metric, task.metric_name
        collapsed = collapsed_class(r)
        lines.append(f"| {name} | {r['params']['model']} | {r['params']['epochs']} | {r['best']['epoch']} | "
                     f"{label} {r['best'][metric]:.4f} | {r['best']['val_loss']:.4f} | "
                     f"{r['history'][-1][metric]:.4f} | {'—' if collapsed is None else f'yes: {collapsed}'} | "
                     f"{r['train_seconds']:.0f} s | {folder_size(run.path) / 1e6:,.0f} MB |")
    return "\n".join(lines)


def provenance(profile, records, seconds):
    import torch

    roots = sorted({cfg["data_root"] for _, cfg, _, _ in records})
    env = next((r["environment"] for *_, r in records if r is not None), {})
    disk = sum(folder_size(run.path) for _, _, run, r in records if r is not None)
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
            f"({scale}; precision auto). It proves that the data, the weights, every model, every "
            f"notebook and this page work; its numbers are not results.\n\n")


def combined(executed, profile, data_root, seconds):
    """One notebook: title, provenance, results table, then each section's notebooks' cells."""
    records = run_records(profile, data_root)
    banner = dry_run_banner(profile) if profile.endswith(DRY_SUFFIX) else ""
    cells = [nbformat.v4.new_markdown_cell(
        f"# hw2 report — profile `{profile}`\n\n{banner}## Provenance\n\n"
        f"{provenance(profile, records, seconds)}\n\n## Results\n\n"
        "Scores are at the best epoch on validation (the kept checkpoint), beside the final "
        f"epoch's.\n\n{runs_table(records)}")]
    for heading, notebooks in SECTIONS:
        cells.append(nbformat.v4.new_markdown_cell(f"# {heading}"))
        for name in notebooks:
            cells += [c for c in executed[name].cells if "parameters" not in c.metadata.get("tags", [])
                      and "injected-parameters" not in c.metadata.get("tags", [])]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = executed[RUN_ORDER[0]].metadata
    return nb


def build(profile="sample", data_root=None, dry_run=False, overrides=(), log=print):
    """Run every notebook and write the report; return the report's path. `overrides`
    ("key=value") apply to every run of the profile (e.g. precision=bf16)."""
    with environment(**{OVERRIDES: " ".join(overrides)}):  # read by profiles.config, in the kernels too
        return _build(profile, data_root, dry_run, log)


def _build(profile, data_root, dry_run, log):
    started = time.time()
    for run in run_names(profile):
        config(profile, run, data_root)  # an unknown profile or a bad run config fails before any work
    name = profile + (DRY_SUFFIX if dry_run else "")
    nb_dir = ROOT / "build" / "notebooks" / name
    html_dir = ROOT / "build" / "report" / name
    figures = ROOT / "figures" / name
    shutil.rmtree(figures, ignore_errors=True)  # only this build's figures stay
    nb_dir.mkdir(parents=True, exist_ok=True)
    executed = {}
    for notebook in RUN_ORDER:
        t = time.time()
        log(f"running notebooks/{notebook}.ipynb ({name})")
        executed[notebook] = static_outputs(execute(notebook, name, data_root, nb_dir / f"{notebook}.ipynb"))
        write_text(html_dir / f"{notebook}.html", to_html(executed[notebook]))
        log(f"  done in {time.time() - t:.0f} s -> {html_dir / notebook}.html")
    report = ROOT / "build" / "report" / (f"{name}.html" if dry_run else "report.html")
    page = to_html(combined(executed, name, data_root, time.time() - started), exclude_input=True)
    write_text(report, page)
    log(f"wrote {report} ({len(page) / 1e6:.1f} MB) in {time.time() - started:.0f} s")
    return report

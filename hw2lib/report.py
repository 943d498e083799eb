"""`make report`: execute the notebooks with papermill, export HTML, assemble one report page.

    hw2 report --profile sample                    # what `make report` runs
    hw2 report --profile homework --data-root ~/hw2_data

Each notebook runs with `params/<profile>/<notebook>.yaml` (plus `profile` and `data_root`); the
executed copies go to `build/notebooks/<profile>/`, their HTML (images embedded) to
`build/report/<profile>/`, and `build/report/report.html` is ONE self-contained page in the seed
report's order, with a results table from the runs' `metrics.json` and a provenance block. It
loads nothing from the network. A failing notebook stops the build, naming the notebook and cell,
and its executed copy (with the error) is kept.
"""
import html
import json
import time
from datetime import datetime, timezone
from pathlib import Path

import nbformat

from .files import write_text
from .provenance import git_commit
from .workbook import ROOT, data_fingerprint, params_dir, read_yaml, run_config

RUN_ORDER = ["01_classification", "02_fcn32s", "03_fcn8s", "04_ablation_fcn4s_2s", "05_tsne"]
SECTIONS = [  # the seed report's structure: (heading, notebooks)
    ("Problem 1: image classification", ["01_classification", "05_tsne"]),
    ("Problem 2: semantic segmentation", ["02_fcn32s", "03_fcn8s"]),
    ("Ablation: FCN4s and FCN2s", ["04_ablation_fcn4s_2s"]),
]
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class ReportError(RuntimeError):
    """A notebook failed; the message names it, the cell, and where the executed copy is."""


def execute(notebook, profile, data_root, out_path, overrides=None):
    """Run one notebook with its profile's parameters (and `overrides`); return the result."""
    import papermill as pm
    from jupyter_client import KernelManager

    params = read_yaml(params_dir(profile) / f"{notebook}.yaml")
    params.update(profile=profile, data_root=data_root, **(overrides or {}))
    # A local kernel talks over unix sockets (ipc), not unencrypted TCP ports.
    kernel = KernelManager(kernel_name="python3", transport="ipc")
    try:
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
    """Drop live-widget views where a static picture stands beside them, and widget state.

    Without a kernel a widget view is a blank box that would need JavaScript from a CDN."""
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
    """(name, config, metrics record or None) for every run of the profile."""
    runs_yaml = params_dir(profile) / "runs.yaml"
    out = []
    for name in read_yaml(runs_yaml).get("runs", {}):
        cfg = run_config(runs_yaml, name, data_root)
        metrics = Path(cfg["out_dir"]) / "metrics.json"
        out.append((name, cfg, json.loads(metrics.read_text()) if metrics.is_file() else None))
    return out


def runs_table(records):
    """Markdown table of every run that has a metrics record."""
    lines = ["| run | model | task | epochs | best epoch | val metric | train time |",
             "|---|---|---|---|---|---|---|"]
    for name, _, r in records:
        if r is None:
            continue
        key = "val_miou" if r["params"]["task"] == "segmentation" else "val_acc"
        lines.append(f"| {name} | {r['params']['model']} | {r['params']['task']} | "
                     f"{r['params']['epochs']} | {r['best']['epoch']} | "
                     f"{key.replace('val_', '')} {r['best'][key]:.4f} | {r['train_seconds']:.0f} s |")
    return "\n".join(lines)


def provenance(profile, records, seconds):
    import torch

    roots = sorted({cfg["data_root"] for _, cfg, _ in records})
    env = next((r["environment"] for _, _, r in records if r is not None), {})
    rows = {
        "profile": profile,
        "data": "; ".join(f"{Path(r).relative_to(ROOT) if Path(r).is_relative_to(ROOT) else r} "
                          f"(fingerprint {data_fingerprint(r)[:12]})" for r in roots),
        "device": f"{env.get('device', '?')} ({env.get('device_name', '?')})",
        "torch": torch.__version__,
        "git commit": git_commit() or "not a git checkout",
        "report wall time": f"{seconds:.0f} s",
        "built": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }
    return "\n".join(["| | |", "|---|---|"] + [f"| {k} | {html.escape(str(v))} |" for k, v in rows.items()])


def combined(executed, profile, data_root, seconds):
    """One notebook: title, provenance, results table, then each section's notebooks' cells."""
    records = run_records(profile, data_root)
    cells = [nbformat.v4.new_markdown_cell(
        f"# hw2 report — profile `{profile}`\n\n## Provenance\n\n{provenance(profile, records, seconds)}"
        f"\n\n## Results\n\n{runs_table(records)}")]
    for heading, notebooks in SECTIONS:
        cells.append(nbformat.v4.new_markdown_cell(f"# {heading}"))
        for name in notebooks:
            cells += [c for c in executed[name].cells if "parameters" not in c.metadata.get("tags", [])
                      and "injected-parameters" not in c.metadata.get("tags", [])]
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = executed[RUN_ORDER[0]].metadata
    return nb


def build(profile="sample", data_root=None, log=print):
    """Run every notebook and write the report; return the report's path."""
    started = time.time()
    nb_dir = ROOT / "build" / "notebooks" / profile
    html_dir = ROOT / "build" / "report" / profile
    nb_dir.mkdir(parents=True, exist_ok=True)
    executed = {}
    for name in RUN_ORDER:
        t = time.time()
        log(f"running notebooks/{name}.ipynb ({profile})")
        executed[name] = static_outputs(execute(name, profile, data_root, nb_dir / f"{name}.ipynb"))
        write_text(html_dir / f"{name}.html", to_html(executed[name]))
        log(f"  done in {time.time() - t:.0f} s -> {html_dir / name}.html")
    report = ROOT / "build" / "report" / "report.html"
    page = to_html(combined(executed, profile, data_root, time.time() - started), exclude_input=True)
    write_text(report, page)
    log(f"wrote {report} ({len(page) / 1e6:.1f} MB) in {time.time() - started:.0f} s")
    return report

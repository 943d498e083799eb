"""`make report`: train or reuse every run, execute the notebooks, write one report page.

    hw2 report --profile sample                    # what `make report` runs
    hw2 report --profile homework --data-root ~/hw2_data [--parallel N | --address auto]
    hw2 report --profile homework --data-root ~/hw2_data --dry-run   # toy scale, minutes, CPU

The runs train first, as `hw2 runs` trains them (`runs/graph.py`); the notebooks then only read
finished runs (`train_missing=False`), so a run that would still need training is an error that
names it. Each notebook runs with its profile's parameters and the build's (`notebooks.py`);
the executed copies go to `build/notebooks/<profile>/`, their HTML (images embedded) to
`build/report/<profile>/`, and `build/report/report.html` is ONE self-contained page
(`page.py`). A failing notebook stops the build, naming the notebook and cell, and its executed
copy (with the error) is kept. A dry run writes `runs/<profile>-dry/`,
`build/report/<profile>-dry/` and the page `build/report/<profile>-dry.html`.
"""
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from ..analysis.reference import reference_numbers
from ..atomic import write_text
from ..errors import Preempted, ReportError
from ..runs.graph import STOPPED, outcome_table, train_all
from ..runs.profiles import DRY_SUFFIX, ROOT, profile_name, run_names, run_settings
from .notebooks import SECTIONS, execute, static_outputs
from .page import finished_runs, to_html, write_page

NOTEBOOKS_AT_ONCE = min(2, os.cpu_count() or 1)  # measured: 5 smoke notebooks 40 s one by one, 25 s two at once


def share_the_cores():
    """Run in each notebook process: its kernel's torch and OpenMP threads get an equal share of
    the cores (unless OMP_NUM_THREADS says otherwise). Two kernels of two threads each on two
    cores made the sample's t-SNE cell take 29 s instead of 6 s."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, cores // NOTEBOOKS_AT_ONCE)))


def build_report(profile="sample", data_root=None, *, dry_run=False, overrides=(), repeats=None, graph=None,
                 reference_results=None, log=print):
    """Train or reuse every run (`hw2 runs`), run every notebook on the finished runs, and write
    the report; return the report's path. `overrides` ("key=value") apply to every run of the
    profile whose task has the key (e.g. precision=bf16); `repeats` caps each run's seed
    repeats; `graph` says how the runs are placed (see `train_all`); `reference_results` names
    another reference numbers file than the profile's."""
    started = time.time()
    name = profile_name(profile) + (DRY_SUFFIX if dry_run else "")
    for run in run_names(name, repeats):
        run_settings(name, run, data_root, overrides)  # an unknown profile or a bad run fails before any work
    outcomes = train_all(name, data_root, overrides=overrides, repeats=repeats, log=log, **(graph or {}))
    log(outcome_table(outcomes))
    if any(o.action in STOPPED for o in outcomes):
        raise Preempted("stopped by a signal before every run finished; the report is not built. Run the same "
                        "command again to continue")
    failed = [o for o in outcomes if not o.ok]
    if failed:
        raise ReportError("runs did not finish, so the report is not built: "
                          + "; ".join(f"{o.name}: {o.action} ({o.result})" for o in failed))
    nb_dir, html_dir = ROOT / "build" / "notebooks" / name, ROOT / "build" / "report" / name
    figures = ROOT / "figures" / name
    shutil.rmtree(figures, ignore_errors=True)  # only this build's figures stay
    nb_dir.mkdir(parents=True, exist_ok=True)
    parameters = {"data_root": data_root, "overrides": list(overrides), "repeats": repeats,
                  "reference_results": None if reference_results is None else str(Path(reference_results).resolve())}
    log(f"running {len(SECTIONS)} notebooks ({name}), {NOTEBOOKS_AT_ONCE} at a time")
    # The notebooks only read finished runs, so they can run side by side: each in its own kernel.
    with ProcessPoolExecutor(NOTEBOOKS_AT_ONCE, initializer=share_the_cores) as pool:
        jobs = {notebook: pool.submit(execute, notebook, name, nb_dir / f"{notebook}.ipynb", parameters)
                for notebook in SECTIONS}
        executed = {notebook: static_outputs(job.result()) for notebook, job in jobs.items()}
    for notebook, nb in executed.items():
        write_text(html_dir / f"{notebook}.html", to_html(nb))
    log(f"  done in {time.time() - started:.0f} s -> {html_dir}/")
    report = ROOT / "build" / "report" / (f"{name}.html" if dry_run else "report.html")
    runs = finished_runs(name, data_root, overrides, repeats)
    page = write_page(executed, runs, name, time.time() - started, reference_numbers(name, reference_results),
                      overrides)
    write_text(report, page)
    log(f"wrote {report} ({len(page) / 1e6:.1f} MB) in {time.time() - started:.0f} s")
    return report

"""The report's notebooks, and running them with papermill.

`SECTIONS` is the one registry of the report's sections: one line per notebook, in the order
they run, each with its place on the page (the reference report's order). A notebook's default
parameters are its own `parameters` cell; `params/<profile>/<notebook>.yaml`, where it exists,
overrides only what differs for that profile. A new section is a notebook and one line here.
"""
import contextlib
import os
import shutil
import tempfile
from pathlib import Path

import nbformat
import papermill as pm
from jupyter_client import AsyncKernelManager
from nbclient.exceptions import DeadKernelError

from ..errors import ReportError
from ..runs.profiles import ROOT, params_dir
from ..settings import read_yaml

# The t-SNE runs first: the longest notebook on the sample (13 s against 5-10 s), so the notebooks
# running two at a time end together (sample, held to AVX2: 25 s instead of 33 s).
SECTIONS = {  # notebook: its place on the page
    "05_tsne": 2,
    "01_classification": 1,
    "02_fcn32s": 3,
    "03_fcn8s": 4,
    "04_ablation_fcn4s_2s": 5,
}
NOTEBOOKS = ROOT / "notebooks"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def page_order():
    return sorted(SECTIONS, key=SECTIONS.get)


def notebook_parameters(profile, notebook):
    """The profile's parameters for `notebook`: only where they differ from its parameters cell."""
    path = params_dir(profile) / f"{notebook}.yaml"
    return read_yaml(path) if path.is_file() else {}


@contextlib.contextmanager
def quiet_progress():
    """Kernels started in the block inherit HW2_PROGRESS=0: one log line per epoch, no bars."""
    saved = os.environ.get("HW2_PROGRESS")
    os.environ["HW2_PROGRESS"] = "0"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("HW2_PROGRESS")
        else:
            os.environ["HW2_PROGRESS"] = saved


def kernels_on_unix_sockets(folder):
    """A kernel manager class whose kernels talk over unix sockets in `folder` (ipc), not over
    unencrypted TCP ports; one folder per notebook, so several can run at once. It is the async
    manager nbclient uses by default: with a blocking one, a kernel that dies is never noticed."""
    class IpcKernelManager(AsyncKernelManager):
        def __init__(self, **kwargs):
            super().__init__(transport="ipc", ip=str(Path(folder) / "kernel"), **kwargs)
    return IpcKernelManager


def execute(notebook, profile, out_path, build_parameters):
    """Run one notebook with its profile's parameters and the build's (`profile`, `data_root`,
    `overrides`, `repeats`, ...); return the executed notebook. A batch build reads finished
    runs only: `hw2 runs` has trained them."""
    params = {**notebook_parameters(profile, notebook), "profile": profile, "train_missing": False,
              **build_parameters}
    return run_notebook(NOTEBOOKS / f"{notebook}.ipynb", out_path, params)


def run_notebook(path, out_path, params):
    """papermill on one notebook, in its own folder; a failed cell or a dead kernel becomes a
    ReportError naming the notebook, and the executed copy is kept at `out_path`."""
    name = f"{Path(path).parent.name}/{Path(path).name}"
    where = f"the executed notebook, with the error, is kept at {out_path}"
    sockets = tempfile.mkdtemp(prefix="hw2-kernel-")
    try:
        with quiet_progress():
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

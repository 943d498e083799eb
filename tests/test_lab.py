"""JupyterLab as a student uses it: `make lab` started on a free port with a token, the FCN8s
notebook opened in Chromium (Playwright), every cell run on the smoke profile's runs, then the
MaskInspector's tile, epoch and view changed: the picture and the caption follow, no cell fails,
and nothing asks to go online."""
import secrets
import socket
import subprocess
import time
import urllib.request

import nbformat
import pytest

from browser import browser_page, find_chromium
from conftest import ROOT

pytestmark = pytest.mark.skipif(find_chromium() is None, reason="chromium is not installed (.ci/run installs it)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def lab(report, tmp_path):
    """A JupyterLab server, started as `make lab` starts it, on a copy of notebooks/03_fcn8s.ipynb
    that reads the smoke profile's finished runs; yields its URL with the token."""
    nb = nbformat.read(ROOT / "notebooks" / "03_fcn8s.ipynb", as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source = cell.source.replace('profile = "sample"', 'profile = "smoke"').replace(
        "train_missing = True", "train_missing = False")
    nbformat.write(nb, tmp_path / "03_fcn8s.ipynb")
    port, token = free_port(), secrets.token_hex(8)
    flags = f"--no-browser --port={port} --ServerApp.ip=127.0.0.1 --IdentityProvider.token={token}"
    server = subprocess.Popen(["make", "-s", "lab", f"LAB_DIR={tmp_path}", f"LAB_FLAGS={flags}"], cwd=ROOT,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(120):
        try:
            urllib.request.urlopen(f"{url}/api/status?token={token}", timeout=1)
            break
        except OSError:
            time.sleep(0.5)
    try:
        yield url, token
    finally:
        subprocess.run(["pkill", "-TERM", "-s", str(server.pid)])
        server.wait(timeout=30)


INSPECTOR = ".jp-OutputArea-output:has(.widget-image)"
# The inspector's picture, as the bytes its image element shows (a blob: URL, new at every redraw).
PICTURE_BYTES = """async (img) => {
  const bytes = new Uint8Array(await (await fetch(img.src)).arrayBuffer());
  let hash = 0;
  for (const b of bytes) hash = (hash * 31 + b) >>> 0;
  return bytes.length + ":" + hash;
}"""


def picture_and_caption(page):
    box = page.locator(INSPECTOR)
    return box.locator("img.widget-image").evaluate(PICTURE_BYTES), box.locator(".widget-html-content").inner_text()


def changed(page, before, parts, timeout=20, settle=0.5):
    """The (picture, caption) once each of `parts` (0: picture, 1: caption) differs from `before`
    and nothing has changed for `settle` seconds: the widget sends the caption and the picture as
    two messages, drawn one after the other (a busy machine once showed the new caption beside the
    old picture). Returns what is shown at the deadline otherwise."""
    now, since, deadline = before, time.monotonic(), time.monotonic() + timeout
    while time.monotonic() < deadline:
        latest = picture_and_caption(page)
        if latest != now:
            now, since = latest, time.monotonic()
        elif all(now[k] != before[k] for k in parts) and time.monotonic() - since >= settle:
            return now
        time.sleep(0.1)
    return now


def test_the_notebook_runs_in_jupyterlab_and_its_inspector_responds(lab):
    url, token = lab
    with browser_page(viewport={"width": 1400, "height": 1000}) as page:
        page.goto(f"{url}/lab/tree/03_fcn8s.ipynb?token={token}")
        page.wait_for_selector(".jp-NotebookPanel .jp-Cell", timeout=60_000)
        page.get_by_text("Python 3 (ipykernel) | Idle").wait_for(timeout=60_000)  # the kernel is connected
        page.click(".lm-MenuBar-itemLabel:text-is('Run')")
        page.click(".lm-Menu-itemLabel:text-is('Run All Cells')")
        # "Run All Cells" stops at the first error: the last cell's Findings mean every cell ran.
        page.get_by_text("Generated from the numbers above").wait_for(timeout=240_000)
        assert page.get_by_text("official Jupyter news").count() == 0  # nothing asks to go online
        page.locator(INSPECTOR).scroll_into_view_if_needed()
        first = picture_and_caption(page)
        assert first[1].startswith("fcn32s, tile 0000, epoch 2: tile mIoU ")
        page.locator(f"{INSPECTOR} .widget-dropdown", has_text="tile").locator("select").select_option("0012")
        other_tile = changed(page, first, parts=(0, 1))
        assert other_tile[0] != first[0] and other_tile[1].startswith("fcn32s, tile 0012, epoch 2: tile mIoU ")
        assert other_tile[1].split()[-1] != first[1].split()[-1]  # another tile, another mIoU
        page.locator(f"{INSPECTOR} .widget-slider", has_text="epoch").locator(".noUi-handle").press("ArrowLeft")
        earlier = changed(page, other_tile, parts=(1,))
        assert earlier[1].startswith("fcn32s, tile 0012, epoch 1: tile mIoU ")
        page.locator(f"{INSPECTOR} .widget-toggle-button", has_text="error map").click()
        errors_drawn = changed(page, earlier, parts=(0,))
        assert errors_drawn[0] != earlier[0] and errors_drawn[1] == earlier[1]  # the view: same tile and epoch

"""Open a local HTML file in headless Chromium with the network cut off, over the DevTools protocol:
list every request the page made, check its images decoded, take a full-page screenshot, and
drive the page's mask inspector like a reader would."""
import base64
import contextlib
import json
import re
import shutil
import subprocess
import tempfile
import time

import websocket

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-default-apps", "--metrics-recording-only",
         # Any request that is not a file: goes to a dead proxy, so nothing leaves the machine;
         # it is still listed by the DevTools Network domain, which is what the test inspects.
         "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=<-loopback>"]


def find_chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


class Page:
    def __init__(self, ws):
        self.ws, self.next_id, self.events = ws, 0, []

    def call(self, method, **params):
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg["result"]
            self.events.append(msg)

    def wait_for(self, event, timeout=60):
        end = time.time() + timeout
        while time.time() < end:
            if any(e.get("method") == event for e in self.events):
                return
            self.ws.settimeout(max(0.1, end - time.time()))
            self.events.append(json.loads(self.ws.recv()))
        raise TimeoutError(event)


# Changes the inspector's model, epoch and view controls as a user would, and reports the picture's
# source before and after (it is redrawn asynchronously, so poll for the change).
DRIVE_INSPECTOR = """
(async () => {
  const root = document.querySelector(".mask-inspector");
  if (!root) return null;
  const picture = root.querySelector('[data-role="picture"]');
  const wait = async (old) => { for (let i = 0; i < 100 && picture.src === old; i++)
    await new Promise((r) => setTimeout(r, 100)); return picture.src; };
  const before = await wait("");
  const model = root.querySelector('select[data-role="model"]');
  model.selectedIndex = model.options.length - 1;
  model.dispatchEvent(new Event("change"));
  const epoch = root.querySelector('input[data-role="epoch"]');
  epoch.value = 0;
  epoch.dispatchEvent(new Event("input"));
  const view = root.querySelector('select[data-role="view"]');
  view.value = "ground truth";
  view.dispatchEvent(new Event("change"));
  const after = await wait(before);
  return {before: before.slice(0, 40), changed: before !== after,
          selects: root.querySelectorAll("select").length,
          ranges: root.querySelectorAll('input[type="range"]').length,
          caption: root.querySelector('[data-role="caption"]').textContent};
})()"""


# Laid out as printed (A4, 12 mm margins: 186 mm = 703 CSS px wide), every visible element that
# reaches past the printable width, and every table or <pre> whose content overflows its box.
WIDER_THAN_THE_PAGE = """
(() => {
  const limit = document.documentElement.clientWidth + 1, out = [];
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const tag = el.tagName.toLowerCase();
    if (r.right > limit || ((tag === "pre" || tag === "table") && el.scrollWidth > el.clientWidth + 1))
      out.push(tag + "." + el.className + " right=" + Math.round(r.right) + " scroll=" + el.scrollWidth);
  }
  return out.slice(0, 20);
})()"""
PRINTABLE_WIDTH_PX = round((210 - 2 * 12) / 25.4 * 96)


def pdf_pages(data):
    return len(re.findall(rb"/Type\s*/Page\b", data))


@contextlib.contextmanager
def opened(html_path):
    """The DevTools page of a headless Chromium that has loaded `html_path`."""
    profile = tempfile.mkdtemp(prefix="hw2-chromium-")
    proc = subprocess.Popen([find_chromium(), *FLAGS, f"--user-data-dir={profile}",
                             "--remote-debugging-port=0", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stderr:
            m = re.search(r"DevTools listening on (ws://\S+)", line)
            if m:
                break
        b = Page(websocket.create_connection(m.group(1), timeout=60))
        target = b.call("Target.createTarget", url="about:blank")["targetId"]
        port = re.search(r":(\d+)/", m.group(1)).group(1)
        page = Page(websocket.create_connection(f"ws://127.0.0.1:{port}/devtools/page/{target}", timeout=60))
        page.call("Network.enable")
        page.call("Page.enable")
        page.call("Page.navigate", url=f"file://{html_path}")
        page.wait_for("Page.loadEventFired")
        yield page
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def print_check(html_path, pdf_path):
    """(pages, pages before the appendix, elements wider than the printable area), as Chromium
    prints the page to A4 (the PDF is written to `pdf_path`)."""
    with opened(html_path) as page:
        pdf = base64.b64decode(page.call("Page.printToPDF", preferCSSPageSize=True, printBackground=False)["data"])
        pdf_path.write_bytes(pdf)
        page.call("Emulation.setEmulatedMedia", media="print")
        page.call("Emulation.setDeviceMetricsOverride", width=PRINTABLE_WIDTH_PX, height=1000,
                  deviceScaleFactor=1, mobile=False)
        wide = page.call("Runtime.evaluate", returnByValue=True, expression=WIDER_THAN_THE_PAGE)["result"]["value"]
        page.call("Runtime.evaluate", expression=(
            "document.head.insertAdjacentHTML('beforeend', "
            "'<style>@media print { .appendix { display: none !important; } }</style>')"))
        body = base64.b64decode(page.call("Page.printToPDF", preferCSSPageSize=True)["data"])
        return pdf_pages(pdf), pdf_pages(body), wide


def inspect(html_path, screenshot_path, width=1280):
    """Return (requested URLs, number of images, number decoded, inspector result) and write a
    screenshot PNG."""
    with opened(html_path) as page:
        inspector = page.call("Runtime.evaluate", returnByValue=True, awaitPromise=True,
                              expression=DRIVE_INSPECTOR)["result"].get("value")
        images = page.call("Runtime.evaluate", returnByValue=True, expression=(
            "[document.images.length, Array.from(document.images).filter("
            "i => i.complete && i.naturalWidth > 0).length]"))["result"]["value"]
        height = page.call("Runtime.evaluate", returnByValue=True,
                           expression="document.documentElement.scrollHeight")["result"]["value"]
        page.call("Emulation.setDeviceMetricsOverride", width=width, height=min(height, 16000),
                  deviceScaleFactor=1, mobile=False)
        shot = page.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        with open(screenshot_path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        urls = [e["params"]["request"]["url"] for e in page.events
                if e.get("method") == "Network.requestWillBeSent"]
        return urls, images[0], images[1], inspector

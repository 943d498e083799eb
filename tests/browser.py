"""Open a local HTML page in the system's headless Chromium, driven by Playwright, with the network
cut off: list every request the page made, check its images decoded, take a full-page screenshot,
drive the page's mask inspector like a reader would, and print the page to A4. Playwright
downloads no browser here: it launches the Chromium the machine has (`.ci/run` installs it)."""
import contextlib
import re
import shutil

from playwright.sync_api import sync_playwright

ARGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-quic", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--disable-default-apps", "--metrics-recording-only"]


def find_chromium():
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@contextlib.contextmanager
def browser_page(viewport=None):
    """A new page of a headless system Chromium; every request that is not a file:, data: or
    loopback one is aborted, and `page.requests` lists every URL the page asked for."""
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=find_chromium(), headless=True, args=ARGS)
        try:
            page = browser.new_page(viewport=viewport or {"width": 1280, "height": 900})
            page.requests = []

            def route(r):
                page.requests.append(r.request.url)
                local = r.request.url.startswith(("file:", "data:", "http://127.0.0.1", "http://localhost"))
                r.continue_() if local else r.abort()
            page.route("**/*", route)
            yield page
        finally:
            browser.close()


# Changes the inspector's model, epoch and view controls as a user would, and reports the picture's
# source before and after (it is redrawn asynchronously, so poll for the change).
DRIVE_INSPECTOR = """
async () => {
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
}"""


# Laid out as printed (A4, 12 mm margins: 186 mm = 703 CSS px wide), every visible element that
# reaches past the printable width, and every table or <pre> whose content overflows its box.
WIDER_THAN_THE_PAGE = """
() => {
  const limit = document.documentElement.clientWidth + 1, out = [];
  for (const el of document.body.querySelectorAll("*")) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) continue;
    const tag = el.tagName.toLowerCase();
    if (r.right > limit || ((tag === "pre" || tag === "table") && el.scrollWidth > el.clientWidth + 1))
      out.push(tag + "." + el.className + " right=" + Math.round(r.right) + " scroll=" + el.scrollWidth);
  }
  return out.slice(0, 20);
}"""
PRINTABLE_WIDTH_PX = round((210 - 2 * 12) / 25.4 * 96)


def pdf_pages(data):
    return len(re.findall(rb"/Type\s*/Page\b", data))


def inspect(html_path, screenshot_path):
    """(requested URLs, number of images, number decoded, inspector result), and a full-page
    screenshot PNG written to `screenshot_path`."""
    with browser_page() as page:
        page.goto(f"file://{html_path}", wait_until="load")
        inspector = page.evaluate(DRIVE_INSPECTOR)
        images = page.evaluate("[document.images.length, Array.from(document.images).filter("
                               "i => i.complete && i.naturalWidth > 0).length]")
        page.screenshot(path=str(screenshot_path), full_page=True)
        return page.requests, images[0], images[1], inspector


def print_check(html_path, pdf_path):
    """(pages, pages before the appendix, elements wider than the printable area), as Chromium
    prints the page to A4 (the PDF is written to `pdf_path`)."""
    with browser_page() as page:
        page.goto(f"file://{html_path}", wait_until="load")
        pdf = page.pdf(path=str(pdf_path), prefer_css_page_size=True, print_background=False)
        page.emulate_media(media="print")
        page.set_viewport_size({"width": PRINTABLE_WIDTH_PX, "height": 1000})
        wide = page.evaluate(WIDER_THAN_THE_PAGE)
        page.add_style_tag(content="@media print { .appendix { display: none !important; } }")
        body = page.pdf(prefer_css_page_size=True)
        return pdf_pages(pdf), pdf_pages(body), wide

"""Open a `dvc plots show` / `dvc plots diff` HTML page in headless Chromium, screenshot it, check it drew.

Usage: python -m maintenance.check_plots_page dvc_plots/index.html [--screenshot PATH] [--min-charts N]

DVC's page loads Vega, Vega-Lite and Vega-Embed from a CDN. The page's requests for them are answered
from a local npm install of the same versions (VEGA_DIR, default .cache/vega/node_modules; `make
browser-deps` installs it and Chromium), so the check runs offline; any other outside request is refused.
Exits 0 when at least --min-charts Vega charts drew and every image on the page loaded, else 1 with the
reason. The screenshot (default: beside the page, screenshot.png) is for a person to look at.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from classifier import errors, paths

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
VEGA_DIR = Path(os.environ.get("VEGA_DIR", paths.ROOT / ".cache" / "vega" / "node_modules"))
CDN = "https://cdn.jsdelivr.net/npm/"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def local_script(url: str) -> Path:
    """https://cdn.jsdelivr.net/npm/vega-lite@5.2.0 -> VEGA_DIR/vega-lite/build/vega-lite.min.js"""
    package = url.removeprefix(CDN).split("@")[0]
    return VEGA_DIR / package / "build" / f"{package}.min.js"


def serve_cdn(route) -> None:
    script = local_script(route.request.url)
    if script.is_file():
        route.fulfill(status=200, content_type="application/javascript", body=script.read_bytes())
    else:
        route.abort()


def inspect_page(page_path: Path, screenshot: Path, min_charts: int) -> dict:
    """Load the page, wait for Vega to draw, screenshot it; return counts of charts and images."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.route(f"{CDN}**", serve_cdn)
        page.route(
            "http*://**", lambda route: route.abort() if not route.request.url.startswith(CDN) else route.fallback()
        )
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(page_path.resolve().as_uri(), wait_until="load")
        drawn = "document.querySelectorAll('.vega-embed canvas, .vega-embed svg.marks').length"
        try:
            page.wait_for_function(f"{drawn} >= {min_charts}", timeout=20000)
        except PlaywrightTimeout:
            pass  # counted and reported below
        counts = page.evaluate(f"""() => ({{
            charts: {drawn},
            images: document.images.length,
            broken: [...document.images].filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
        }})""")
        page.screenshot(path=str(screenshot), full_page=True)
        browser.close()
    return {**counts, "errors": errors}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("page", type=Path)
    parser.add_argument("--screenshot", type=Path)
    parser.add_argument("--min-charts", type=int, default=3)
    args = parser.parse_args(argv)
    if not args.page.is_file():
        raise errors.UserError(f"{args.page} not found; write it with `dvc plots show` or `dvc plots diff`")
    if not Path(CHROMIUM).is_file() or not VEGA_DIR.is_dir():
        raise errors.UserError(f"needs Chromium at {CHROMIUM} and Vega under {VEGA_DIR}; run `make browser-deps`")
    screenshot = args.screenshot or args.page.with_name("screenshot.png")
    found = inspect_page(args.page, screenshot, args.min_charts)
    summary = f"{found['charts']} charts drawn, {found['images']} images ({len(found['broken'])} broken)"
    if found["charts"] < args.min_charts or found["broken"] or found["errors"]:
        problems = "; ".join(found["errors"][:2] + [f"broken image {src}" for src in found["broken"][:2]])
        raise errors.UserError(f"{args.page} did not render: {summary}{'; ' + problems if problems else ''}")
    print(f"{args.page}: {summary}; screenshot {screenshot}")


if __name__ == "__main__":
    sys.exit(errors.run(main))

"""Regenerate docs/demo-market.png, the README's screenshot: ``make demo``'s market page.

It runs the demo (``python -m coinlstm.app.demo --no-serve``) in a fresh home of its own, so
the picture rests on the demo's own record (its backfilled 30 days and live hours), serves its
database with ``coinlstm serve`` on a free loopback port, opens the market page in headless
chromium through chromedriver (Debian's ``chromium`` and ``chromium-driver``, Selenium: as
tests/integration/test_dashboard_browser.py does), and saves the whole page (temp name, then
rename).

    make screenshot                                  # = the line below
    .venv/bin/python docs/screenshot.py              # demo, serve, docs/demo-market.png
    .venv/bin/python docs/screenshot.py --db sqlite:///data/demo/demo.sqlite  # no new demo

Prints where it wrote the picture and its size.
"""

from __future__ import annotations

import argparse
import base64
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from selenium import webdriver  # the dev extra's (pip install -e '.[dev]')
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMEDRIVER = shutil.which("chromedriver") or "/usr/bin/chromedriver"
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars", "--force-device-scale-factor=1")


def run_demo(home: Path) -> str:
    """The demo's database URL, after a demo run in ``home``."""
    env = {**os.environ, "COINLSTM_HOME": str(home)}
    subprocess.run([sys.executable, "-m", "coinlstm.app.demo", "--no-serve"], env=env,
                   cwd=REPO, check=True)
    return f"sqlite:///{home / 'data' / 'demo' / 'demo.sqlite'}"


def serve(db_url: str) -> tuple[subprocess.Popen, str]:
    """``coinlstm serve`` on a free loopback port: its process and its URL."""
    process = subprocess.Popen([sys.executable, "-m", "coinlstm", "serve", "--port", "0",
                                "--db", db_url], stdout=subprocess.PIPE, text=True, cwd=REPO,
                               start_new_session=True)
    line = process.stdout.readline()
    if not line.startswith("dashboard on "):
        os.killpg(process.pid, signal.SIGTERM)
        raise SystemExit(f"coinlstm serve did not start: {line.strip()}")
    return process, line.split()[2].rstrip("/")


def shoot(url: str, out: Path, width: int, profile: Path) -> tuple[int, int]:
    """Save the page at ``url`` whole (at least ``width`` pixels wide, wider if its tables
    are): its (width, height). Chromium's own full-page capture (DevTools'
    ``Page.captureScreenshot`` beyond the viewport), so nothing below the window is cut."""
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*FLAGS, f"--window-size={width},900", f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        driver.set_page_load_timeout(60)
        driver.get(url)
        WebDriverWait(driver, 30).until(
            lambda d: d.find_elements(By.CSS_SELECTOR, "#ranking tbody tr"))
        size = driver.execute_script(
            "var e = document.documentElement;"
            "return [Math.max(e.scrollWidth, arguments[0]), e.scrollHeight];", width)
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
            "width": size[0], "height": size[1], "deviceScaleFactor": 1, "mobile": False})
        size = driver.execute_script(  # the layout at that width
            "var e = document.documentElement; return [e.scrollWidth, e.scrollHeight];")
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size[0], "height": size[1], "scale": 1}})
        temp = out.with_name(f".{out.stem}.{os.getpid()}.tmp.png")
        temp.write_bytes(base64.b64decode(shot["data"]))
        os.replace(temp, out)
        return size[0], size[1]
    finally:
        driver.quit()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="docs/screenshot.py", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default=None,
                        help="serve this database (default: run the demo in a fresh home)")
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "demo-market.png")
    parser.add_argument("--width", type=int, default=1600,
                        help="pixels at least (default %(default)s)")
    parser.add_argument("--path", default="/market/ETH?interval=1h",
                        help="the page (default %(default)s)")
    args = parser.parse_args(argv)
    for path in (CHROMIUM, CHROMEDRIVER):
        if not os.access(path, os.X_OK):
            raise SystemExit(f"{path} missing: apt-get install chromium chromium-driver")
    with tempfile.TemporaryDirectory(prefix="coinlstm-screenshot-") as scratch:
        db_url = args.db or run_demo(Path(scratch) / "home")
        process, url = serve(db_url)
        try:
            width, height = shoot(url + args.path, args.out, args.width,
                                  Path(scratch) / "profile")
        finally:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
    print(f"{args.out}: {width} x {height} px, {url}{args.path} of {db_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The documentation site renders in a real browser: images load, equations show, no raw markers.

``mkdocs build --strict`` (``.ci/run``) proves the site builds; this test opens the built pages in
headless Chromium (Debian's ``chromium`` and ``chromium-driver``, driven by selenium) and checks
what a reader sees on the front page and on the model page:

- every ``<img>`` loaded (``naturalWidth > 0``): no broken figure link;
- the model page shows every equation string its markers name (``sleep_brian.equations``),
  put there by the build hook (``docs/hooks/sleep_brian_docs.py``);
- no raw ``:::`` (an mkdocstrings directive left unrendered) in the text and no
  ``<!-- sleep-brian:... -->`` placeholder left in the page.

A screenshot of the front page goes to the pytest tmp folder, and also into
``$SLEEP_BRIAN_ARTIFACTS`` when that is set (for CI artefacts). Skipped, with the reason, where
chromium, chromedriver, selenium or mkdocs (with its theme and plugins) is missing.
"""

from __future__ import annotations

import functools
import http.server
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
#: The pages checked: the front page and the model page (site paths).
PAGES = {"index": "", "model": "model/"}
MARKER = re.compile(r"<!--\s*sleep-brian:([a-z-]+)\s*([^\s>]*)\s*-->")


def _missing() -> str | None:
    """Why the test cannot run here (None when it can)."""
    if not CHROMIUM.exists():
        return f"no {CHROMIUM}: apt-get install chromium chromium-driver"
    if not CHROMEDRIVER.exists():
        return f"no {CHROMEDRIVER}: apt-get install chromium-driver"
    for module, fix in (("selenium", "pip install selenium"), ("mkdocs", "pip install '.[docs]'"),
                        ("material", "pip install '.[docs]'"), ("mkdocstrings", "pip install '.[docs]'")):  # fmt: skip
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed: {fix}"
    return None


pytestmark = [pytest.mark.slow, pytest.mark.skipif(_missing() is not None, reason=f"docs rendering: {_missing()}")]


def _normalise(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """The site built with ``mkdocs build --strict`` into a tmp folder, served on localhost."""
    out = tmp_path_factory.mktemp("site")
    proc = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert proc.returncode == 0, f"mkdocs build failed:\n{proc.stdout}\n{proc.stderr}"
    handler = functools.partial(_QuietHandler, directory=str(out))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", "--window-size=1280,1600"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def _open(browser, url: str) -> None:
    """Load ``url`` and wait until the document and every image on it have finished loading."""
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url)
    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script(
            "return document.readyState === 'complete' && Array.from(document.images).every(i => i.complete);"
        )
    )


def _broken_images(browser) -> tuple[int, list[str]]:
    images = browser.execute_script(
        "return Array.from(document.images).map(i => [i.getAttribute('src'), i.naturalWidth]);"
    )
    return len(images), [src for src, width in images if not width]


def _check_clean(browser, page: str) -> str:
    """The page's visible text, after checking it shows no raw directive or placeholder."""
    from selenium.webdriver.common.by import By

    text = browser.find_element(By.TAG_NAME, "body").text
    assert text.strip(), f"{page}: the page shows no text"
    assert ":::" not in text, f"{page}: a raw mkdocstrings directive (':::') is shown"
    left = MARKER.findall(browser.page_source)
    assert not left, f"{page}: placeholder comments left in the page: {left}"
    assert "sleep-brian:" not in text, f"{page}: a placeholder is shown as text"
    return text


def test_front_page_renders_with_its_figure(site, browser, tmp_path):
    _open(browser, site + PAGES["index"])
    n, broken = _broken_images(browser)
    assert n >= 1, "the front page should show its figure"
    assert not broken, f"front page: images that did not load: {broken}"
    text = _check_clean(browser, "index")
    assert "sleep-brian" in text
    shot = tmp_path / "index.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 0
    artifacts = os.environ.get("SLEEP_BRIAN_ARTIFACTS")
    if artifacts:
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(artifacts) / "docs_index.png")


def test_model_page_shows_the_codes_equations(site, browser):
    import sleep_brian.equations as equations

    _open(browser, site + PAGES["model"])
    n, broken = _broken_images(browser)
    assert not broken, f"model page: images that did not load ({n} images): {broken}"
    text = _normalise(_check_clean(browser, "model"))
    names = [name for kind, name in MARKER.findall((ROOT / "docs" / "model.md").read_text()) if kind == "equation"]
    assert names, "docs/model.md names no equation"
    missing = []
    for name in names:
        lines = [_normalise(line) for line in getattr(equations, name).splitlines() if line.strip()]
        missing += [f"{name}: {line!r}" for line in lines if line not in text]
    assert not missing, "equation lines not shown on the model page:\n" + "\n".join(missing)

"""A real browser (Debian's chromium, headless, through Selenium and chromedriver) registers,
creates a team, submits a file and finds its score on the leaderboard.

Set SYNSETLAB_SCREENSHOTS=DIR to keep a PNG of every page it visits.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.challenge.workspace import kaggle_csv
from tests.server.live import serve

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")


@pytest.fixture
def browser():
    if not (CHROMIUM and DRIVER):
        if os.environ.get("CI"):
            pytest.fail("chromium and chromium-driver are missing: .ci/run must install them")
        pytest.skip("needs Debian's chromium and chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-dev-shm-usage",
        "--window-size=1200,900",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.implicitly_wait(5)
    yield driver
    driver.quit()


def test_register_submit_and_see_the_score_in_a_browser(tmp_path: Path, ws, browser) -> None:
    """On the ``ws`` fixture's challenge "shapes" (conftest.py), open now."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    preds = tmp_path / "preds.csv"
    preds.write_bytes(kaggle_csv(ws, correct=0.8, seed=3))
    shots = Path(os.environ.get("SYNSETLAB_SCREENSHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)

    def shot(name: str) -> None:
        browser.save_screenshot(str(shots / f"{name}.png"))

    def see(text: str) -> None:
        """Wait for ``text`` on the page: a click returns before the next page has loaded."""
        WebDriverWait(browser, 15).until(lambda d: text in d.page_source)

    def fill(fields: dict[str, str]) -> None:
        for name, value in fields.items():
            browser.find_element(By.NAME, name).send_keys(value)

    with serve(ws.root) as url:
        browser.get(url + "/")
        shot("1-challenges")
        browser.find_element(By.LINK_TEXT, "register").click()
        fill({"user": "alice", "password": "password-of-alice"})
        browser.find_element(By.CSS_SELECTOR, "form.stack button").click()
        see("Welcome, alice")
        fill({"name": "vision-lab"})
        browser.find_element(By.XPATH, "//button[text()='Create team']").click()
        see("Team vision-lab")
        shot("2-team")

        browser.get(url + "/c/shapes")
        shot("3-challenge")
        see("submissions left today")
        browser.find_element(By.LINK_TEXT, "Submit").click()
        browser.find_element(By.NAME, "file").send_keys(str(preds))
        shot("4-submit")
        browser.find_element(By.XPATH, "//button[text()='Submit']").click()
        see("Submission 1 is scored")
        shot("5-submissions")
        score = browser.find_element(By.CSS_SELECTOR, "td.score").text

        browser.find_element(By.LINK_TEXT, "Leaderboard").click()
        see("Public board, phase dev")
        row = browser.find_element(By.CSS_SELECTOR, "table.board tbody tr")
        assert "vision-lab" in row.text and score in row.text
        shot("6-leaderboard")

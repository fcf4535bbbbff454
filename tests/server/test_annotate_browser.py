"""A real browser (Debian's chromium through Selenium) annotates on a real ``synsetlab serve``:
an annotator logs in, joins the project, answers a page with the keyboard only (number keys,
arrows and space, then Enter), sees the next page at once, and the catalog holds the votes.

Set SYNSETLAB_SCREENSHOTS=DIR to keep a PNG of every view it visits.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from sqlalchemy import select

from synsetlab.catalog import AnnotationVote, Annotator
from synsetlab.workspace import open_workspace
from tests.server.live import serve
from tests.server.test_annotate_api import site_template  # noqa: F401 - the fixture
from tests.server.test_browser import browser  # noqa: F401 - the fixture, with its skip


def test_annotate_a_page_with_the_keyboard(
    site_template: Path,  # noqa: F811
    tmp_path: Path,
    browser,  # noqa: F811
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    shutil.copytree(site_template, tmp_path / "ws")
    ws = open_workspace(tmp_path / "ws")
    shots = Path(os.environ.get("SYNSETLAB_SCREENSHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)

    def shot(name: str) -> None:
        browser.save_screenshot(str(shots / f"annotate-{name}.png"))

    def press(*keys: str) -> None:
        chain = ActionChains(browser)
        for key in keys:
            chain.send_keys(key)
        chain.perform()

    def showing() -> str | None:
        return browser.find_element(By.ID, "annotate").get_attribute("data-task-id")

    def loaded() -> bool:
        return browser.execute_script(
            "return [...document.querySelectorAll('#annotate-task img')]"
            ".every((i) => i.complete && i.naturalWidth > 0)"
        )

    def tiles() -> list:
        return browser.find_elements(By.CSS_SELECTOR, "#annotate-task figure.tile")

    with serve(ws.root) as url:
        browser.get(url + "/login")
        browser.find_element(By.NAME, "user").send_keys("ann")
        browser.find_element(By.NAME, "password").send_keys("password-of-ann")
        browser.find_element(By.CSS_SELECTOR, "form.stack button").click()
        WebDriverWait(browser, 15).until(lambda d: d.current_url.endswith("/annotate"))
        shot("1-projects")
        browser.find_element(By.XPATH, "//button[text()='Join']").click()
        WebDriverWait(browser, 15).until(lambda d: showing())
        WebDriverWait(browser, 15).until(lambda d: loaded())
        first = showing()
        page = browser.find_element(By.ID, "annotate-task").text
        assert "Select every image that shows a" in page
        items = [int(t.get_attribute("data-item-id")) for t in tiles()]
        assert len(items) >= 4
        assert len(browser.find_elements(By.CSS_SELECTOR, ".annotate-examples img")) == 2

        # Yes to the 1st and 3rd: keys 1 and 3, and 2 pressed twice (selected, then not);
        # the 4th by the arrows and space.
        press("1", "3", "2", "2")
        press(Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_RIGHT, Keys.ARROW_LEFT, " ")
        selected = [t.get_attribute("aria-checked") == "true" for t in tiles()]
        assert selected[:4] == [True, False, True, True] and not any(selected[4:])
        shot("2-answered")
        time.sleep(0.6 * len(items))  # a person looks a while: not too fast (0.5 s a picture)
        press(Keys.ENTER)
        # The next page was fetched ahead: it shows at once, its pictures loaded already.
        WebDriverWait(browser, 2).until(lambda d: showing() not in (None, first))
        assert loaded()
        assert not any(t.get_attribute("aria-checked") == "true" for t in tiles())
        progress = browser.find_element(By.ID, "annotate-progress")
        WebDriverWait(browser, 10).until(lambda d: progress.text == "1 page answered")
        assert browser.find_element(By.ID, "annotate-status").text == ""  # not flagged fast
        shot("3-next-page")

        second = showing()
        press(Keys.ENTER)  # nothing selected: "no" to every picture
        WebDriverWait(browser, 10).until(lambda d: showing() not in (None, second))
        press(Keys.ENTER)
        # One person has answered each class's initial subset: no more work for them now.
        done = browser.find_element(By.CSS_SELECTOR, "#annotate-task .annotate-empty")
        WebDriverWait(browser, 10).until(lambda d: "No page for you now" in done.text)
        assert progress.text == "3 pages answered"
        shot("4-done")

    with ws.session() as s:
        ann = s.scalars(select(Annotator).where(Annotator.name == "ann")).one()
        votes = s.execute(
            select(AnnotationVote.item_id, AnnotationVote.answer, AnnotationVote.seconds)
            .where(AnnotationVote.task_id == int(first), AnnotationVote.annotator_id == ann.id)
            .order_by(AnnotationVote.item_id)
        ).all()
    ws.close()
    wanted = {item: i in (0, 2, 3) for i, item in enumerate(items)}
    assert {item: answer for item, answer, _ in votes} == wanted
    # Seconds measured by the page, shared over the answers: at least the time waited.
    assert sum(seconds for *_, seconds in votes) >= 0.6 * len(items)

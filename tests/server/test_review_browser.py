"""A real browser (Debian's chromium through Selenium) reviews findings with the keyboard on a
real ``synsetlab serve``: x excludes, k keeps, u undoes, c sends a label issue to the crowd
(never a hidden test image), and the catalog records each under the curator's name.

Set SYNSETLAB_SCREENSHOTS=DIR to keep a PNG of every view it visits.
"""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import select

from synsetlab.catalog import Decision, Role
from synsetlab.workspace import init_workspace
from tests.challenge.workspace import team_member
from tests.curate.test_review import review_catalog
from tests.server.live import serve
from tests.server.test_browser import browser  # noqa: F401 - the fixture, with its skip


def test_review_findings_with_the_keyboard(tmp_path: Path, browser) -> None:  # noqa: F811
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select, WebDriverWait

    ws = init_workspace(tmp_path / "ws")
    cat = review_catalog(ws, tmp_path / "photos")
    team_member(ws, "curie", role=Role.admin)
    shots = Path(os.environ.get("SYNSETLAB_SCREENSHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)
    root = None

    def shot(name: str) -> None:
        browser.save_screenshot(str(shots / f"review-{name}.png"))

    def showing() -> int | None:
        value = root.get_attribute("data-finding-id")
        return int(value) if value else None

    def wait_for_finding(finding_id: int) -> None:
        """Wait until the page shows ``finding_id`` with its thumbnails loaded."""
        WebDriverWait(browser, 15).until(lambda d: showing() == finding_id)
        WebDriverWait(browser, 15).until(
            lambda d: d.execute_script(
                "return [...document.querySelectorAll('#review-item img')]"
                ".every((i) => i.complete && i.naturalWidth > 0)"
            )
        )

    def press(key: str) -> None:
        ActionChains(browser).send_keys(key).perform()

    def status() -> str:
        return browser.find_element(By.ID, "review-status").text

    with serve(ws.root) as url:
        browser.get(url + "/review")  # to the login form, and back once logged in
        browser.find_element(By.NAME, "user").send_keys("curie")
        browser.find_element(By.NAME, "password").send_keys("password-of-curie")
        browser.find_element(By.CSS_SELECTOR, "form.stack button").click()
        root = browser.find_element(By.ID, "review")
        wait_for_finding(cat.findings["blurry:2"])
        progress = browser.find_element(By.ID, "review-progress")
        assert progress.text == "1 of 9 pending"
        assert "measured 12, threshold 40" in root.text and "value 12" in root.text
        shot("1-quality")

        press("x")
        wait_for_finding(cat.findings["blurry:6"])
        assert f"Excluded image {cat.ids[2]}" in status()
        assert progress.text == "1 of 8 pending"
        press("k")
        wait_for_finding(cat.findings["exact-duplicate:0"])
        assert progress.text == "1 of 7 pending"
        assert len(root.find_elements(By.CSS_SELECTOR, ".cluster figure.card")) == 3
        shot("2-cluster")

        press("j")  # on to the next without deciding
        wait_for_finding(cat.findings["exact-duplicate:4"])
        assert progress.text == "2 of 7 pending"
        press("u")  # the keep comes undone: its finding is back, shown again
        wait_for_finding(cat.findings["blurry:6"])
        assert "Undid the keep" in status()
        assert "of 8 pending" in progress.text

        Select(browser.find_element(By.ID, "review-kind")).select_by_value("label-issue")
        wait_for_finding(cat.findings["label-issue:3"])
        assert "given: brambling" in root.text and "suggested: goldfinch" in root.text
        crowd = Select(browser.find_element(By.ID, "review-crowd-project"))
        assert crowd.first_selected_option.text == "review (new)"
        shot("3-label-issue")

        press("c")  # both classes asked in the default project, made now; on to the next
        wait_for_finding(cat.findings["label-issue:7"])
        assert status() == (
            f"Sent image {cat.ids[3]} to the crowd in review (a new project): asked whether it "
            "shows brambling, and whether it shows goldfinch. u undoes it."
        )
        assert crowd.first_selected_option.text == "review"
        press("c")  # a hidden test image: refused, still shown
        WebDriverWait(browser, 15).until(lambda d: "hidden test split" in status())
        assert showing() == cat.findings["label-issue:7"]
        press("u")  # back in the queue, with what the crowd says so far
        wait_for_finding(cat.findings["label-issue:3"])
        assert "Undid sending image" in status() and "questions stay" in status()
        answers = root.find_element(By.CSS_SELECTOR, ".crowd").text
        assert "brambling in review: pending · 0 yes, 0 no" in answers
        assert "goldfinch in review: pending · 0 yes, 0 no" in answers
        shot("4-crowd")

    with ws.session() as s:
        rows = s.scalars(select(Decision).order_by(Decision.id)).all()
        got = [(d.finding_id, d.action.value, d.author, d.undone_by) for d in rows]
    ws.close()
    assert got == [
        (cat.findings["blurry:2"], "exclude", "curie", None),
        (cat.findings["blurry:6"], "keep", "curie", "curie"),
        (cat.findings["label-issue:3"], "keep", "curie", "curie"),  # reason crowd:label-issue
    ]

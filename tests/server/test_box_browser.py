"""A real browser (Debian's chromium through Selenium) draws boxes on a real ``synsetlab
serve``: an annotator joins a box project, drags a box with the mouse on the canvas, zooms in
and draws another by keyboard alone, and the catalog holds both boxes in the stored image's
pixels. Another annotator answers two quality tasks and a coverage task with ``y``/``n`` on
boxes someone else drew, and the catalog holds the votes.

Set SYNSETLAB_SCREENSHOTS=DIR to keep a PNG of every view it visits.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from synsetlab.annotate import annotator_for, get_project
from synsetlab.annotate.box_assign import next_box_task
from synsetlab.annotate.box_projects import create_box_project
from synsetlab.annotate.box_submit import submit_box_task
from synsetlab.catalog import Annotator
from synsetlab.catalog.annotation import BoxCoverageVote, BoxDrawing, BoxQualityVote
from synsetlab.catalog.challenge import Role
from synsetlab.taxonomy import Taxonomy
from tests.annotate.boxes_world import CLASSES, build, copy
from tests.challenge.workspace import team_member
from tests.server.live import serve
from tests.server.test_browser import browser  # noqa: F401 - the fixture, with its skip

NAME = "shapes-boxes"


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build(tmp_path_factory.mktemp("boxpage"), gold_per_class=1, per_class=2)


def test_draw_boxes_with_the_mouse_and_the_keyboard(
    template: Path,
    tmp_path: Path,
    browser,  # noqa: F811
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.action_builder import ActionBuilder
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    ws = copy(template, tmp_path / "ws")
    with ws.session() as s:
        create_box_project(s, NAME, taxonomy=Taxonomy.wordnet(), classes=list(CLASSES))
    with ws.session() as s:
        get_project(s, NAME).gold_fraction = 0.0  # every task is a real one
    team_member(ws, "ann", role=Role.annotator)
    shots = Path(os.environ.get("SYNSETLAB_SCREENSHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)

    def shot(name: str) -> None:
        browser.save_screenshot(str(shots / f"boxes-{name}.png"))

    def root(attribute: str) -> str | None:
        return browser.find_element(By.ID, "annotate").get_attribute(attribute)

    def canvas():
        return browser.find_element(By.CSS_SELECTOR, "#annotate-task canvas.box-canvas")

    def press(*keys: str, times: int = 1) -> None:
        chain = ActionChains(browser)
        for _ in range(times):
            for key in keys:
                chain.send_keys(key)
        chain.perform()

    with serve(ws.root) as url:
        browser.get(url + "/login")
        browser.find_element(By.NAME, "user").send_keys("ann")
        browser.find_element(By.NAME, "password").send_keys("password-of-ann")
        browser.find_element(By.CSS_SELECTOR, "form.stack button").click()
        WebDriverWait(browser, 15).until(lambda d: d.current_url.endswith("/annotate"))
        browser.find_element(By.XPATH, "//button[text()='Join']").click()
        WebDriverWait(browser, 15).until(lambda d: root("data-task-id"))
        assert root("data-kind") == "draw"
        assert "Draw a box around one" in browser.find_element(By.ID, "annotate-task").text
        first = root("data-task-id")
        # The 64 px scene is shown at 480 px: 7.5 canvas px a stored pixel.
        size = canvas().size
        assert (size["width"], size["height"]) == (480, 480)
        shot("1-draw")

        # Drag from the middle of stored pixel (10, 20) to that of (39, 49): 7.5 canvas px
        # a pixel, so a pointer a pixel off still lands in the same stored pixel. In the
        # viewport's coordinates: WebDriver's element offsets count from the element's
        # visible centre, which moves with scrolling.
        left, top = browser.execute_script(
            "const c = document.querySelector('#annotate-task canvas');"
            "c.scrollIntoView({block: 'start'}); const r = c.getBoundingClientRect();"
            "return [r.left, r.top];"
        )

        def at(x: float, y: float) -> tuple[int, int]:  # a stored pixel's middle, on screen
            return round(left + (x + 0.5) * 7.5), round(top + (y + 0.5) * 7.5)

        drag = ActionBuilder(browser)
        drag.pointer_action.move_to_location(*at(10, 20)).pointer_down()
        drag.pointer_action.move_to_location(*at(25, 30))
        drag.pointer_action.move_to_location(*at(39, 49)).pointer_up()
        drag.perform()
        WebDriverWait(browser, 5).until(lambda d: root("data-box"))
        assert root("data-box") == "10,20,39,49"
        shot("2-dragged")
        press(Keys.ENTER)
        WebDriverWait(browser, 15).until(lambda d: root("data-task-id") not in (None, first))
        second = root("data-task-id")
        assert root("data-kind") == "draw"

        # Zoom in twice (1.5x, then 2x: 15 canvas px a stored pixel), then by keys alone: the
        # crosshair starts at the centre (32, 32); left 12 (Shift: 10 a press, then 2), up 2,
        # Space; right 20, down 10, Space.
        press("+", "+")
        assert root("data-zoom") == "2"
        assert canvas().size["width"] == 960
        ActionChains(browser).key_down(Keys.SHIFT).send_keys(Keys.ARROW_LEFT).key_up(
            Keys.SHIFT
        ).perform()
        press(Keys.ARROW_LEFT, times=2)
        press(Keys.ARROW_UP, times=2)
        press(" ")
        press(Keys.ARROW_RIGHT, times=20)
        press(Keys.ARROW_DOWN, times=10)
        press(" ")
        assert root("data-box") == "20,30,39,39"
        shot("3-keyboard")
        press(Keys.ENTER)
        WebDriverWait(browser, 15).until(lambda d: root("data-task-id") not in (None, second))
        shot("4-next")

    with ws.session() as s:
        ann = s.scalars(select(Annotator).where(Annotator.name == "ann")).one()
        drawn = s.execute(
            select(BoxDrawing.xmin, BoxDrawing.ymin, BoxDrawing.xmax,
                   BoxDrawing.ymax, BoxDrawing.source)
            .where(BoxDrawing.annotator_id == ann.id)
            .order_by(BoxDrawing.id)
        ).all()  # fmt: skip
    ws.close()
    assert [tuple(row) for row in drawn] == [
        (10, 20, 39, 49, "drawn"),
        (20, 30, 39, 39, "drawn"),
    ]


def test_answer_quality_and_coverage_tasks_with_the_keyboard(
    template: Path,
    tmp_path: Path,
    browser,  # noqa: F811
) -> None:
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    ws = copy(template, tmp_path / "ws")
    with ws.session() as s:
        create_box_project(s, NAME, taxonomy=Taxonomy.wordnet(), classes=list(CLASSES))
    with ws.session() as s:
        project = get_project(s, NAME)
        project.gold_fraction = 0.0  # every task is a real one
        other, v1, v2 = (annotator_for(s, project, name=n).id for n in ("other", "v1", "v2"))
    # Someone else draws two boxes; two people say the first is good (not enough to accept
    # it: two newcomers' yes reach 0.94 of the 0.95 asked).
    drawings, items = [], []
    for box in ([2, 3, 30, 33], [5, 5, 20, 40]):
        with ws.session() as s:
            task = next_box_task(s, NAME, other)
            assert task.kind == "draw"
            drawings.append(submit_box_task(s, task.id, other, {"box": box}).drawing_id)
            items.append(task.item_id)
    for who in (v1, v2):
        with ws.session() as s:
            task = next_box_task(s, NAME, who)
            assert task.drawing_id == drawings[0]
            submit_box_task(s, task.id, who, {"drawing_id": drawings[0], "answer": True})
    team_member(ws, "ann", role=Role.annotator)
    shots = Path(os.environ.get("SYNSETLAB_SCREENSHOTS", tmp_path / "shots"))
    shots.mkdir(parents=True, exist_ok=True)

    def shot(name: str) -> None:
        browser.save_screenshot(str(shots / f"boxes-verify-{name}.png"))

    def root(attribute: str) -> str | None:
        return browser.find_element(By.ID, "annotate").get_attribute(attribute)

    def answer(key: str, before: str) -> None:
        ActionChains(browser).send_keys(key).perform()
        WebDriverWait(browser, 15).until(lambda d: root("data-task-id") != before)

    with serve(ws.root) as url:
        browser.get(url + "/login")
        browser.find_element(By.NAME, "user").send_keys("ann")
        browser.find_element(By.NAME, "password").send_keys("password-of-ann")
        browser.find_element(By.CSS_SELECTOR, "form.stack button").click()
        WebDriverWait(browser, 15).until(lambda d: d.current_url.endswith("/annotate"))
        browser.find_element(By.XPATH, "//button[text()='Join']").click()
        WebDriverWait(browser, 15).until(lambda d: root("data-task-id"))
        # Verification comes first: the first box, then the second.
        text = browser.find_element(By.ID, "annotate-task").text
        assert root("data-kind") == "quality" and "Is the orange box tight around one" in text
        assert root("data-drawing-id") == str(drawings[0])
        shot("1-quality")
        answer("y", root("data-task-id"))
        assert root("data-kind") == "quality" and root("data-drawing-id") == str(drawings[1])
        shot("2-quality")
        answer("n", root("data-task-id"))
        # The first box is accepted (three yes): is every instance of its image boxed?
        assert root("data-kind") == "coverage" and root("data-item-id") == str(items[0])
        assert "inside a green box" in browser.find_element(By.ID, "annotate-task").text
        shot("3-coverage")
        answer("y", root("data-task-id"))
        shot("4-next")
        # The index page shows the box project's progress.
        browser.get(url + "/annotate")
        row = browser.find_element(By.CSS_SELECTOR, 'tr[data-kind="boxes"]').text
        assert "3 tasks" in row and "1 box accepted (0 yours)" in row
        shot("5-index")

    with ws.session() as s:
        ann = s.scalars(select(Annotator).where(Annotator.name == "ann")).one()
        quality = s.execute(
            select(BoxQualityVote.drawing_id, BoxQualityVote.answer)
            .where(BoxQualityVote.annotator_id == ann.id)
            .order_by(BoxQualityVote.id)
        ).all()  # fmt: skip
        coverage = s.execute(
            select(BoxCoverageVote.item_id, BoxCoverageVote.answer, BoxCoverageVote.boxes).where(
                BoxCoverageVote.annotator_id == ann.id
            )
        ).all()
        first = s.get(BoxDrawing, drawings[0])
        assert first.status.value == "accepted" and first.yes_votes == 3
    ws.close()
    assert [tuple(r) for r in quality] == [(drawings[0], True), (drawings[1], False)]
    assert [tuple(r) for r in coverage] == [(items[0], True, 1)]

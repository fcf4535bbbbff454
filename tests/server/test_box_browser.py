"""A real browser (Debian's chromium through Selenium) draws boxes on a real ``synsetlab
serve``: an annotator joins a box project, drags a box with the mouse on the canvas, zooms in
and draws another by keyboard alone, and the catalog holds both boxes in the stored image's
pixels.

Set SYNSETLAB_SCREENSHOTS=DIR to keep a PNG of every view it visits.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import select

from synsetlab.annotate import get_project
from synsetlab.annotate.box_projects import create_box_project
from synsetlab.catalog import Annotator
from synsetlab.catalog.annotation import BoxDrawing
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

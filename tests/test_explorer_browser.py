"""The explorer and the study questionnaire in a real browser (headless Chromium).

``GVETOOL_SCREENSHOTS=DIR`` keeps the screenshots the tests take (the docs' pictures).
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import gvetool
from tests.browser import chrome

pytest.importorskip("selenium")

WAIT_S = 60


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    yield from chrome(tmp_path_factory.mktemp("chromium"))


@pytest.fixture(scope="module")
def server(runs: dict[str, Any]) -> Iterator[gvetool.explorer.ExplorerServer]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GVETOOL_HOME", str(runs["home"]))
        server = gvetool.serve([runs["gve"].directory, runs["cnn"].directory], port=0)
    with server:
        yield server


def _wait(browser: Any, condition: Any, what: str) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, WAIT_S).until(condition, message=f"waited for {what}")


def _shot(browser: Any, name: str, tmp_path: Path) -> None:
    keep = os.environ.get("GVETOOL_SCREENSHOTS")
    folder = Path(keep) if keep else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    assert browser.save_screenshot(str(folder / f"{name}.png"))


def test_browse_filter_search_then_explain_an_uploaded_photo(
    browser, server, runs, tiny_cub_master, tmp_path
):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(server.url)
    cards = _wait(
        browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#cards .card"), "the first page"
    )
    assert "on cub (test split" in browser.find_element(By.ID, "summary").text
    total = len(cards)
    first = cards[0].text
    assert runs["cnn"].directory.name in first and runs["gve"].directory.name in first
    counters = cards[0].find_elements(By.CSS_SELECTOR, ".counter")
    assert len(counters) == 2 and all(c.text.startswith("not ") for c in counters)
    _shot(browser, "explorer-browse", tmp_path)

    classes = Select(browser.find_element(By.ID, "class-filter"))
    chosen = classes.options[2].get_attribute("value")
    classes.select_by_value(chosen)
    _wait(
        browser,
        lambda b: (
            {c.get_attribute("data-class") for c in b.find_elements(By.CSS_SELECTOR, "#cards .cls")}
            == {chosen}
        ),
        f"only {chosen}",
    )
    classes.select_by_value("")
    _wait(
        browser,
        lambda b: len(b.find_elements(By.CSS_SELECTOR, "#cards .card")) == total,
        "all classes again",
    )
    search = browser.find_element(By.ID, "search")
    search.send_keys("zzz-no-such-word")
    _wait(
        browser,
        lambda b: b.find_element(By.ID, "count").text == "no image matches",
        "an empty search",
    )
    search.clear()
    search.send_keys(" ")  # an input event with nothing to find: everything again
    _wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#cards .card"), "the cards back")

    browser.find_element(By.ID, "tab-photo").click()
    runs_menu = Select(browser.find_element(By.ID, "explain-run"))
    runs_menu.select_by_value(runs["gve"].directory.name)  # shipped features: no photos
    assert not browser.find_element(By.ID, "explain-button").is_enabled()
    assert "cannot be computed for a photo" in browser.find_element(By.ID, "run-note").text
    runs_menu.select_by_value(runs["cnn"].directory.name)
    assert browser.find_element(By.ID, "explain-button").is_enabled()
    photo = next((tiny_cub_master / "images").rglob("*.jpg"))
    browser.find_element(By.ID, "photo-input").send_keys(str(photo))
    browser.find_element(By.ID, "explain-button").click()
    explanation = _wait(
        browser,
        lambda b: (
            b.find_element(By.ID, "explanation").text.startswith("This is a ")
            and b.find_element(By.ID, "explanation")
        ),
        "the explanation",
    )
    counter = browser.find_element(By.ID, "counterfactual").text
    assert counter.startswith("It is not a ") and " because " in counter
    ranking = browser.find_elements(By.CSS_SELECTOR, "#ranking li")
    assert len(ranking) == 4 and explanation.text.split(" because ")[0].endswith(
        ranking[0].text.rsplit(" ", 1)[0]
    )
    assert not browser.find_element(By.ID, "error").is_displayed()
    _shot(browser, "explorer-photo", tmp_path)


def test_an_error_from_the_server_shows_in_the_page(browser, server, runs, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(server.url)
    _wait(browser, lambda b: b.find_elements(By.CSS_SELECTOR, "#cards .card"), "the page")
    browser.find_element(By.ID, "tab-photo").click()
    Select(browser.find_element(By.ID, "explain-run")).select_by_value(runs["cnn"].directory.name)
    text_file = tmp_path / "notes.png"
    text_file.write_text("not a picture")
    browser.find_element(By.ID, "photo-input").send_keys(str(text_file))
    browser.find_element(By.ID, "explain-button").click()
    error = _wait(
        browser,
        lambda b: b.find_element(By.ID, "error").is_displayed() and b.find_element(By.ID, "error"),
        "the error line",
    )
    assert error.text == "the uploaded file is not an image (JPEG, PNG, ...)"


def test_a_rater_answers_the_questionnaire_and_downloads_a_csv_that_scores(
    browser, runs, home, tmp_path
):
    from selenium.webdriver.common.by import By

    study = gvetool.study.make(
        runs["gve"].directory, runs["cnn"].directory, out=tmp_path / "study", pairs=2, checks=2
    )
    browser.get(study.questionnaire.as_uri())
    questions = browser.find_elements(By.CSS_SELECTOR, "section.q")
    assert len(questions) == 4
    browser.find_element(By.ID, "rater").send_keys("ann")
    for question in questions:
        question.find_element(By.CSS_SELECTOR, "input[value=left]").click()
    answered = lambda b: b.find_element(By.ID, "status").text == "4 of 4 answered"  # noqa: E731
    _wait(browser, answered, "four answers")
    _shot(browser, "study-questionnaire", tmp_path)
    browser.refresh()  # answers are kept in the browser
    _wait(browser, answered, "the four answers after a reload")
    downloads = Path(browser.capabilities["chrome"]["userDataDir"]).parent
    browser.find_element(By.ID, "download").click()
    answers = downloads / "answers-ann.csv"
    deadline = time.monotonic() + WAIT_S
    while not answers.is_file() and time.monotonic() < deadline:
        time.sleep(0.2)
    rows = list(csv.DictReader(answers.open()))
    assert {r["choice"] for r in rows} == {"left"} and len(rows) == 4
    result = gvetool.study.score(study.directory, answers, allowed_misses=2)
    assert result.votes == 2 and result.raters[0].rater == "ann"

"""The search page in a real browser: headless Chromium driven by Selenium against a live server.

Needs Debian's chromium and chromium-driver (.ci/run installs them); screenshots go to
$HASHSEARCH_ARTIFACTS (default: the system's temporary folder), outside the repository.
"""
import os
import shutil
import socket
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from hashsearch import Searcher
from hashsearch.server import create_app

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs chromium and chromedriver "
                                                                  "(apt-get install chromium chromium-driver)")]
ARTIFACTS = Path(os.environ.get("HASHSEARCH_ARTIFACTS", tempfile.gettempdir()))


@contextmanager
def served(db):
    """The page and API of the index at ``db`` on a free loopback port, in a thread: yields its URL."""
    import uvicorn

    with Searcher.open(db) as searcher:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(create_app(searcher), host="127.0.0.1", port=port,
                                               log_level="warning"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        try:
            wait_for(lambda: server.started, seconds=20)
            yield f"http://127.0.0.1:{port}/"
        finally:
            server.should_exit = True
            thread.join(10)


@pytest.fixture(scope="module")
def page_url(tmp_path_factory, sample_docs):
    from tests.conftest import FAST

    db = tmp_path_factory.mktemp("page") / "page.db"
    Searcher.build(sample_docs, db, bits=32, seed=0, **FAST).close()
    with served(db) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    yield driver
    driver.quit()


def wait_for(condition, seconds=15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("the page did not get there in time")


def test_type_a_query_follow_similar_and_open_the_health_view(page_url, browser):
    from selenium.webdriver.common.by import By

    browser.set_window_size(1280, 900)
    browser.get(page_url)
    wait_for(lambda: "400 documents" in browser.find_element(By.ID, "status").text)
    assert [e.get_attribute("name") for e in browser.find_elements(By.CSS_SELECTOR, "#filters select")] == ["topic"]
    browser.find_element(By.ID, "query").send_keys("rocket launch to the moon")
    hits = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#hits li"))
    assert len(hits) == 10
    assert browser.find_elements(By.CSS_SELECTOR, "#hits mark")  # the query's words are marked
    assert hits[0].find_element(By.CSS_SELECTOR, "a.hit-title").text  # headed by its title
    browser.save_screenshot(str(ARTIFACTS / "hashsearch-page-search-1280.png"))

    first = hits[0].find_element(By.CSS_SELECTOR, ".hit-id").text
    hits[0].find_element(By.CSS_SELECTOR, "button.similar").click()
    wait_for(lambda: f"like {first}" in browser.find_element(By.ID, "summary").text)
    shown = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#hits .hit-id")]
    assert len(shown) == 10 and first not in shown

    from selenium.webdriver.support.ui import Select
    Select(browser.find_element(By.CSS_SELECTOR, "#filters select[name=topic]")).select_by_value("sci.med")
    wait_for(lambda: "for “rocket launch to the moon”" in browser.find_element(By.ID, "summary").text)

    browser.find_element(By.ID, "query").clear()
    browser.find_element(By.ID, "nav-health").click()
    wait_for(lambda: browser.find_element(By.ID, "health-view").is_displayed())
    assert len(browser.find_elements(By.CSS_SELECTOR, "#bits-chart rect")) == 32
    assert browser.find_elements(By.CSS_SELECTOR, "#buckets-chart rect")
    assert browser.find_elements(By.CSS_SELECTOR, "#loss-chart polyline")
    facts = browser.find_element(By.ID, "facts").text
    assert "No retrain needed." in facts and "+00:00" not in facts  # the training date as a date, not ISO text
    browser.save_screenshot(str(ARTIFACTS / "hashsearch-page-health-1280.png"))


def test_the_page_fits_a_phone_screen(page_url, browser):
    from selenium.webdriver.common.by import By

    browser.set_window_size(390, 844)
    browser.get(page_url)
    browser.find_element(By.ID, "query").send_keys("hockey playoffs")
    wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#hits li"))
    width = browser.execute_script("return document.documentElement.scrollWidth")
    viewport = browser.execute_script("return window.innerWidth")
    assert width <= viewport  # nothing wider than the screen
    first_hit_top = browser.execute_script("return document.querySelector('#hits li').getBoundingClientRect().top")
    assert first_hit_top < browser.execute_script("return window.innerHeight") / 2  # hits above the fold
    assert browser.find_element(By.ID, "filter-panel").get_attribute("open") is None  # filters collapsed
    browser.save_screenshot(str(ARTIFACTS / "hashsearch-page-search-390.png"))


def test_a_search_by_address_pages_and_the_trail_back(page_url, browser):
    """/?q=... shows titled hits with their metadata; Next gives hits 11-20 (as the API's offset does)
    and puts the page in the address; "similar" keeps the trail: back returns to the search; a title
    opens the whole document."""
    from selenium.webdriver.common.by import By

    browser.set_window_size(1280, 900)
    browser.get(page_url)  # the empty state offers words of the index's vocabulary
    examples = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#examples .example"))
    word = examples[0].text
    examples[0].click()
    wait_for(lambda: f"for “{word}”: hits 1-" in browser.find_element(By.ID, "summary").text)
    assert "q=" in browser.current_url
    browser.get(page_url + "?q=zzqxw+blorf")
    wait_for(lambda: "No hits for “zzqxw blorf”: none of the query's words is in the index."
             in browser.find_element(By.ID, "summary").text)
    browser.get(page_url + "?q=rocket+launch+to+the+moon")
    wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#hits li")) == 10)
    assert browser.find_element(By.ID, "query").get_attribute("value") == "rocket launch to the moon"
    titles = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#hits a.hit-title")]
    assert all(titles) and "topic: sci.space" in browser.find_element(By.ID, "hits").text
    first_page = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#hits .hit-id")]
    browser.save_screenshot(str(ARTIFACTS / "hashsearch-page-by-address-1280.png"))

    browser.find_element(By.ID, "next").click()
    wait_for(lambda: "page=2" in browser.current_url and "hits 11-20" in browser.find_element(By.ID, "summary").text)
    second_page = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#hits .hit-id")]
    assert len(second_page) == 10 and not set(second_page) & set(first_page)
    browser.save_screenshot(str(ARTIFACTS / "hashsearch-page-next-1280.png"))

    browser.find_elements(By.CSS_SELECTOR, "#hits button.similar")[0].click()
    wait_for(lambda: "similar=" in browser.current_url and "like " in browser.find_element(By.ID, "summary").text)
    browser.back()
    wait_for(lambda: "page=2" in browser.current_url and "hits 11-20" in browser.find_element(By.ID, "summary").text)
    assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#hits .hit-id")] == second_page

    browser.find_elements(By.CSS_SELECTOR, "#hits a.hit-title")[0].click()
    wait_for(lambda: browser.find_element(By.ID, "doc-view").is_displayed()
             and browser.find_element(By.ID, "doc-text").text)
    assert browser.find_element(By.ID, "doc-id").text == second_page[0] and "doc=" in browser.current_url
    browser.save_screenshot(str(ARTIFACTS / "hashsearch-page-document-1280.png"))
    browser.back()
    wait_for(lambda: browser.find_element(By.ID, "search-view").is_displayed()
             and "hits 11-20" in browser.find_element(By.ID, "summary").text)


def test_words_outside_ascii_are_marked(tmp_path, browser, sample_docs):
    """A Cyrillic and an accented word are marked in the hits (the page marks the spans the server gives)."""
    from selenium.webdriver.common.by import By

    from tests.conftest import FAST

    docs = sample_docs[:40] + [{"id": "ru", "text": "Москва — столица России, большой город."},
                               {"id": "fr", "text": "Le café de la gare ouvre à sept heures du matin."}]
    db = tmp_path / "scripts.db"
    Searcher.build(docs, db, bits=32, language=None, **FAST).close()
    with served(db) as url:
        for query, word in (("москва", "Москва"), ("cafe", "café")):
            browser.get(f"{url}?q={query}")
            marks = wait_for(lambda: browser.find_elements(By.CSS_SELECTOR, "#hits mark"))
            assert word in [mark.text for mark in marks]
        browser.save_screenshot(str(ARTIFACTS / "hashsearch-page-accents-1280.png"))


@pytest.fixture(scope="module")
def shop_url(tmp_path_factory, sample_docs):
    """A server over posts that carry a number (year) and a category (topic)."""
    from tests.conftest import FAST

    docs = [{**doc, "year": 1990 + i % 10} for i, doc in enumerate(sample_docs)]
    db = tmp_path_factory.mktemp("shop") / "shop.db"
    Searcher.build(docs, db, bits=32, **FAST).close()
    with served(db) as url:
        yield url


def test_filters_fit_the_data_a_range_and_counted_choices(shop_url, browser):
    """A number gets a range built from the index's values, a category a choice with counts equal to the
    API's facets for the query; the range filters the hits."""
    import json
    import urllib.request

    from selenium.webdriver.common.by import By

    browser.set_window_size(1280, 900)
    browser.get(shop_url + "?q=hockey+playoffs")
    wait_for(lambda: len(browser.find_elements(By.CSS_SELECTOR, "#hits li")) == 10)
    low, high = browser.find_elements(By.CSS_SELECTOR, "#filters .range input[name=year]")
    assert (low.get_attribute("placeholder"), high.get_attribute("placeholder")) == ("1990", "1999")
    with urllib.request.urlopen(shop_url + "facets?field=topic&q=hockey+playoffs&depth=1000") as response:
        facets = {v["value"]: v["count"] for v in json.load(response)["values"]}
    option = "#filters select[name=topic] option[value='rec.sport.hockey']"
    wait_for(lambda: browser.find_element(By.CSS_SELECTOR, option).text
             == f"rec.sport.hockey ({facets['rec.sport.hockey']})")
    low.send_keys("1997")

    def years_shown():  # read in one script: the hits may be re-rendered between two element reads
        labels = browser.execute_script("return [...document.querySelectorAll('#hits .label')].map(e => e.textContent)")
        return [int(label.split(": ")[1]) for label in labels if label.startswith("year")]

    wait_for(lambda: years_shown() and min(years_shown()) >= 1997)
    years = years_shown()
    assert years and min(years) >= 1997
    browser.save_screenshot(str(ARTIFACTS / "hashsearch-page-filters-1280.png"))

"""The search box in a real headless Chromium, against the live server."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_fixtures import LiveServer, live_server  # noqa: F401
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[webdriver.Chrome]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver_path = shutil.which("chromedriver")
    assert chromium and driver_path, "Chromium and chromedriver are needed: `make test` installs them"
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium')}",
        "--window-size=1100,900",
    ):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console messages, CSP violations included
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def _screenshot(driver: webdriver.Chrome, name: str) -> None:
    folder = os.environ.get("ASKDOCS_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(Path(folder) / f"{name}.png"))


def test_ask_shows_answer_with_citations(browser: webdriver.Chrome, live_server: LiveServer) -> None:  # noqa: F811
    browser.get(live_server.url + "/")
    box = browser.find_element(By.ID, "q")
    box.send_keys("東京オフィスの入館カードの再発行手数料はいくらですか？")
    browser.find_element(By.ID, "ask-btn").click()
    wait = WebDriverWait(browser, 20)
    wait.until(ec.visibility_of_element_located((By.ID, "answer")))
    assert "2,000円" in browser.find_element(By.ID, "answer-text").text
    sources = browser.find_elements(By.CSS_SELECTOR, "#answer-sources li .source")
    assert sources and sources[0].text == "東京オフィスガイド"
    assert sources[0].tag_name == "span" and sources[0].get_attribute("title") == "tokyo/office-guide.md"
    titles = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#results .hit .title")]
    assert titles[0] == "東京オフィスガイド"
    assert not browser.find_elements(By.CSS_SELECTOR, "a[href^='file:']"), "no server path is a link"
    csp_errors = [e for e in browser.get_log("browser") if "Content Security Policy" in e.get("message", "")]
    assert not csp_errors, csp_errors
    _screenshot(browser, "ask-japanese")


def test_search_button_lists_documents_and_respects_groups(browser: webdriver.Chrome, live_server: LiveServer) -> None:  # noqa: F811
    browser.get(live_server.url + "/")
    browser.find_element(By.ID, "q").send_keys("Falcon budget line")
    browser.find_element(By.ID, "search-btn").click()
    wait = WebDriverWait(browser, 20)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results .hit, #results .empty"))
    public_text = browser.find_element(By.ID, "results").text
    assert "Falcon" not in public_text
    browser.find_element(By.TAG_NAME, "summary").click()
    browser.find_element(By.ID, "groups").send_keys("finance")
    browser.find_element(By.ID, "search-btn").click()
    wait.until(lambda d: "Falcon" in d.find_element(By.ID, "results").text)
    assert browser.find_elements(By.CSS_SELECTOR, "#results .hit .title")[0].text == "Q3 2026 Operating Budget"
    _screenshot(browser, "search-finance")


def test_server_error_message_is_shown(browser: webdriver.Chrome, live_server: LiveServer) -> None:  # noqa: F811
    browser.get(live_server.url + "/")
    browser.find_element(By.TAG_NAME, "summary").click()
    browser.find_element(By.ID, "user").send_keys("not-an-email")
    browser.find_element(By.ID, "q").send_keys("VPN")
    browser.find_element(By.ID, "search-btn").click()
    WebDriverWait(browser, 20).until(lambda d: d.find_element(By.ID, "status").text)
    assert "email" in browser.find_element(By.ID, "status").text

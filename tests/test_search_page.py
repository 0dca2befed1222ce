"""The search box in a real headless Chromium, against the live server."""

from __future__ import annotations

import pytest
from api_fixtures import LiveServer, demo_server, live_server  # noqa: F401
from browser_fixtures import browser, screenshot  # noqa: F401
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import Select, WebDriverWait

pytestmark = pytest.mark.browser


def test_ask_shows_answer_with_citations(browser: webdriver.Chrome, live_server: LiveServer) -> None:  # noqa: F811
    browser.get(live_server.url + "/")
    box = browser.find_element(By.ID, "q")
    box.send_keys("東京オフィスの入館カードの再発行手数料はいくらですか？")
    browser.find_element(By.ID, "ask-btn").click()
    wait = WebDriverWait(browser, 20)
    wait.until(ec.visibility_of_element_located((By.ID, "answer")))
    assert "2,000円" in browser.find_element(By.ID, "answer-text").text
    sources = browser.find_elements(By.CSS_SELECTOR, "#answer-sources li a")
    assert sources and sources[0].text == "東京オフィスガイド"
    titles = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#results .hit .title")]
    assert titles[0] == "東京オフィスガイド"
    assert not browser.find_elements(By.CSS_SELECTOR, "a[href^='file:']"), "no server path is a link"
    csp_errors = [e for e in browser.get_log("browser") if "Content Security Policy" in e.get("message", "")]
    assert not csp_errors, csp_errors
    screenshot(browser, "ask-japanese")


def test_demo_sign_in_as_shows_the_finance_documents(browser: webdriver.Chrome, demo_server: str) -> None:  # noqa: F811
    """The issue's demo: public results first; after "sign in as" the finance person, the finance documents too."""
    browser.delete_all_cookies()
    browser.get(demo_server + "/")
    assert not browser.find_elements(By.ID, "user") and not browser.find_elements(By.ID, "groups"), "no identity form"
    wait = WebDriverWait(browser, 20)
    wait.until(lambda d: d.find_element(By.ID, "demo-btn").is_displayed())
    assert "public documents only" in browser.find_element(By.ID, "who-text").text
    browser.find_element(By.ID, "q").send_keys("Falcon budget line")
    browser.find_element(By.ID, "search-btn").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results .hit, #results .empty"))
    public = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#results .hit .title")]
    assert public and "Q3 2026 Operating Budget" not in public, "anonymous: public results only"
    Select(browser.find_element(By.ID, "demo-person")).select_by_value("ana@kumo.example")
    browser.find_element(By.ID, "demo-btn").click()
    wait.until(lambda d: "ana@kumo.example" in d.find_element(By.ID, "who-text").text)
    browser.find_element(By.ID, "search-btn").click()
    wait.until(lambda d: "Falcon" in d.find_element(By.ID, "results").text)
    assert browser.find_elements(By.CSS_SELECTOR, "#results .hit .title")[0].text == "Q3 2026 Operating Budget"
    screenshot(browser, "demo-finance")
    browser.find_element(By.ID, "logout-btn").click()
    wait.until(lambda d: "public documents only" in d.find_element(By.ID, "who-text").text)
    browser.find_element(By.ID, "search-btn").click()
    wait.until(lambda d: "Falcon" not in d.find_element(By.ID, "results").text)


def test_no_sign_in_choices_without_a_configured_mode(browser: webdriver.Chrome, live_server: LiveServer) -> None:  # noqa: F811
    browser.get(live_server.url + "/")
    WebDriverWait(browser, 20).until(lambda d: "public documents only" in d.find_element(By.ID, "who-text").text)
    assert not browser.find_element(By.ID, "demo-btn").is_displayed()
    assert not browser.find_element(By.ID, "login-link").is_displayed()


def test_server_error_message_is_shown(browser: webdriver.Chrome, live_server: LiveServer) -> None:  # noqa: F811
    browser.get(live_server.url + "/")
    box = browser.find_element(By.ID, "q")
    browser.execute_script("arguments[0].removeAttribute('maxlength'); arguments[0].value = 'x'.repeat(3000)", box)
    browser.find_element(By.ID, "search-btn").click()
    WebDriverWait(browser, 20).until(lambda d: d.find_element(By.ID, "status").text)
    assert "query" in browser.find_element(By.ID, "status").text

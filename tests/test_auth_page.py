"""The search page's sign-in with a real OpenID provider, in a real headless Chromium."""

from __future__ import annotations

import httpx
import pytest
from api_fixtures import LiveServer
from browser_fixtures import browser, screenshot  # noqa: F401
from oidc_fixtures import oidc_provider, oidc_server  # noqa: F401
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

pytestmark = pytest.mark.browser


def _search(driver: webdriver.Chrome, query: str) -> list[str]:
    box = driver.find_element(By.ID, "q")
    box.clear()
    box.send_keys(query)
    driver.execute_script("document.getElementById('results').replaceChildren()")
    driver.find_element(By.ID, "search-btn").click()
    WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#results .hit, #results .empty"))
    return [a.text for a in driver.find_elements(By.CSS_SELECTOR, "#results .hit .title")]


def test_sign_in_with_the_openid_provider(browser: webdriver.Chrome, oidc_server: LiveServer) -> None:  # noqa: F811
    browser.delete_all_cookies()
    browser.get(oidc_server.url + "/")
    wait = WebDriverWait(browser, 20)
    wait.until(lambda d: d.find_element(By.ID, "login-link").is_displayed())
    assert "Q3 2026 Operating Budget" not in _search(browser, "Falcon budget line")
    browser.find_element(By.ID, "login-link").click()
    wait.until(lambda d: d.find_elements(By.ID, "login"))  # the provider's own sign-in form
    assert browser.current_url.startswith(oidc_server.services.settings.auth.oidc_issuer or "?")
    browser.find_element(By.ID, "login").send_keys("ana")
    browser.find_element(By.ID, "password").send_keys("any")
    browser.find_element(By.ID, "sign-in").click()
    wait.until(lambda d: "ana@kumo.example" in d.find_element(By.ID, "who-text").text)  # back, lower-cased e-mail
    assert browser.current_url.rstrip("/") == oidc_server.url
    cookie = browser.get_cookie("askdocs_session")
    assert cookie and cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    assert _search(browser, "Falcon budget line")[0] == "Q3 2026 Operating Budget"
    screenshot(browser, "oidc-signed-in")
    stolen = {"askdocs_session": cookie["value"]}
    forged = httpx.post(f"{oidc_server.url}/v1/search", json={"query": "Falcon"}, cookies=stolen)
    assert forged.status_code == 403, "a cross-site POST riding on the cookie lacks the CSRF token"
    browser.find_element(By.ID, "logout-btn").click()
    wait.until(lambda d: "public documents only" in d.find_element(By.ID, "who-text").text)
    assert "Q3 2026 Operating Budget" not in _search(browser, "Falcon budget line")


def test_a_failed_callback_is_a_readable_400(oidc_server: LiveServer) -> None:  # noqa: F811
    response = httpx.get(f"{oidc_server.url}/auth/callback?code=forged&state=nope")
    assert response.status_code == 400 and "sign-in failed" in response.json()["detail"]

"""The search page in a real headless Chromium: streamed cited answers, results, filters in the URL, feedback,
Japanese UI text, keyboard and a 360 px layout; axe-core, a screenshot and the console checked in every state."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from api_fixtures import LiveServer, live_server  # noqa: F401
from browser_fixtures import browser  # noqa: F401
from openai_server import FakeOpenAI, Reply, fake_openai, fake_openai_server  # noqa: F401
from page_fixtures import HOSTILE_TITLE, MARKDOWN_LINK, PageServer, check_state, page_server  # noqa: F401
from pydantic import SecretStr
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from askdocs.api.feedback import FeedbackStore
from askdocs.retrieval.answer.llm import LLMAnswerer

pytestmark = pytest.mark.browser
Driver = webdriver.Chrome


def css(driver: Driver, selector: str) -> list:  # type: ignore[type-arg]
    return driver.find_elements(By.CSS_SELECTOR, selector)


def texts(driver: Driver, selector: str) -> list[str]:
    """The matching elements' texts, read in one script call (no stale element while the page re-renders)."""
    script = "return Array.from(document.querySelectorAll(arguments[0]), e => e.innerText.trim())"
    return list(driver.execute_script(script, selector))


def open_page(driver: Driver, url: str) -> WebDriverWait:  # type: ignore[type-arg]
    driver.get(url)
    wait = WebDriverWait(driver, 30)
    wait.until(lambda d: d.find_element(By.ID, "who-text").text)
    return wait


def search(driver: Driver, query: str) -> None:
    box = driver.find_element(By.ID, "q")
    box.clear()
    box.send_keys(query)
    driver.find_element(By.ID, "search-btn").click()
    WebDriverWait(driver, 30).until(
        lambda d: (
            css(d, "#results .hit, #results .empty")
            and not d.execute_script("return document.getElementById('status').textContent.endsWith('…')")
        )
    )


def url_params(driver: Driver) -> dict[str, list[str]]:
    return parse_qs(urlsplit(driver.current_url).query)


@pytest.fixture
def streaming_llm(page_server: PageServer, fake_openai: FakeOpenAI) -> Iterator[FakeOpenAI]:  # noqa: F811
    """The page server answering with an LLM (the fake, streaming one word every 0.15 s)."""
    services = page_server.services
    extractive = services.answerer
    settings = services.settings.model_copy(
        update={"llm_base_url": fake_openai.url, "llm_model": "fake-chat", "llm_api_key": SecretStr("sk-test")}
    )
    services.answerer = LLMAnswerer(settings, services.analyzer)
    yield fake_openai
    services.answerer = extractive


def test_answer_streams_with_one_entry_per_source_and_citation_tips(
    browser: Driver,  # noqa: F811
    page_server: PageServer,  # noqa: F811
    streaming_llm: FakeOpenAI,
) -> None:
    text = "The Zephyr launch date is 14 March 2027 [1]. The board approved it in January [1]."
    streaming_llm.responder = lambda body: Reply(text=text, chunk_delay_s=0.15)
    wait = open_page(browser, page_server.url + "/")
    box = browser.find_element(By.ID, "q")
    box.send_keys("When is the Zephyr launch date?", Keys.ENTER)  # Enter asks
    wait.until(lambda d: "Zephyr" in d.find_element(By.ID, "answer-text").text)
    partial = browser.find_element(By.ID, "answer-text").text
    assert "January" not in partial and not css(browser, "#answer-sources li"), "tokens appear before the end"
    wait.until(lambda d: css(d, "#answer-sources li"))
    assert browser.find_element(By.ID, "answer-text").text.startswith("The Zephyr launch date is 14 March 2027")
    entries = css(browser, "#answer-sources li")
    assert len(entries) == 1, "one numbered entry per source, not per sentence"
    assert entries[0].get_attribute("value") == "1" and "14 March 2027" in entries[0].text
    markers = css(browser, "#answer-text a.cite")
    assert len(markers) == 2 and all(m.get_attribute("href").endswith("#src-1") for m in markers)
    tip = markers[0].find_element(By.CSS_SELECTOR, ".tip")
    assert not tip.is_displayed()
    browser.execute_script("arguments[0].focus()", markers[0])
    assert tip.is_displayed() and "14 March 2027" in tip.text, "the quoted snippet shows on focus"
    check_state(browser, "answer-streamed")
    entries[0].find_element(By.CSS_SELECTOR, "a.source-title").click()  # a file: jumps to its result
    assert urlsplit(browser.current_url).fragment.startswith("hit-")
    assert css(browser, "#" + urlsplit(browser.current_url).fragment + " .title")[0].text == HOSTILE_TITLE


def test_refusal_is_calm_and_keeps_the_hits(browser: Driver, page_server: PageServer) -> None:  # noqa: F811
    wait = open_page(browser, page_server.url + "/")
    browser.find_element(By.ID, "q").send_keys("What colour is the Zephyr mascot's umbrella?", Keys.ENTER)
    wait.until(lambda d: css(d, "#answer.refusal .refusal-note"))
    assert "Not found in the documents you can see" in browser.find_element(By.ID, "answer").text
    assert "error" not in browser.find_element(By.ID, "status").get_attribute("class")
    assert css(browser, "#results .hit"), "the best hits stay below the refusal"
    check_state(browser, "answer-refusal")


def test_results_highlight_terms_in_both_languages_and_more_results(browser: Driver, page_server: PageServer) -> None:  # noqa: F811
    open_page(browser, page_server.url + "/")
    search(browser, "Zephyr launch date")
    first = css(browser, "#results .hit")[0]
    assert first.find_element(By.CSS_SELECTOR, ".title").text == HOSTILE_TITLE
    marks = {m.text.lower() for m in first.find_elements(By.CSS_SELECTOR, ".snippet mark")}
    assert {"zephyr", "launch", "date"} <= marks
    meta = first.find_element(By.CSS_SELECTOR, ".meta").text
    assert "files · notes/zephyr-launch.md · Launch date · updated" in meta, meta
    channel = [
        h for h in css(browser, "#results .hit") if h.find_element(By.CSS_SELECTOR, ".title").text == "#zephyr-launch"
    ]
    assert channel[0].find_element(By.CSS_SELECTOR, "a.title").get_attribute("href").startswith("https://")
    assert len(css(browser, "#results .hit")) == 10 and browser.find_element(By.ID, "more-btn").is_displayed()
    check_state(browser, "results-english")
    browser.find_element(By.ID, "more-btn").click()
    WebDriverWait(browser, 30).until(lambda d: len(css(d, "#results .hit")) > 10)
    assert url_params(browser)["n"] == ["20"] and not browser.find_element(By.ID, "more-btn").is_displayed()
    search(browser, "ゼファー計画の打ち上げ日")
    first = css(browser, "#results .hit")[0]
    assert first.get_attribute("lang") == "ja"
    assert "ゼファー計画の打ち上げ日" in texts(browser, "#results .hit:first-child .snippet mark")
    check_state(browser, "results-japanese")


def test_documents_markup_and_markdown_links_stay_inert_text(browser: Driver, page_server: PageServer) -> None:  # noqa: F811
    open_page(browser, page_server.url + "/")
    browser.find_element(By.ID, "q").send_keys("Zephyr launch checklist", Keys.ENTER)
    WebDriverWait(browser, 30).until(lambda d: css(d, "#answer-sources li") or css(d, "#answer.refusal"))
    page_text = browser.find_element(By.TAG_NAME, "main").text
    assert HOSTILE_TITLE in page_text and MARKDOWN_LINK in page_text
    assert not css(browser, "main script, main img, main a[href^='javascript']")
    assert browser.execute_script("return window.pwned === undefined")
    check_state(browser, "untrusted-text")


def test_each_filter_changes_results_and_url_and_back_restores(browser: Driver, page_server: PageServer) -> None:  # noqa: F811
    open_page(browser, page_server.url + "/")
    search(browser, "Zephyr prototype rehearsal")
    everything = texts(browser, "#results .hit .title")
    assert "Zephyr archive" in everything and "#zephyr-launch" in everything
    options = texts(browser, "#f-source option")
    assert "slack (1)" in options and any(o.startswith("files (") for o in options), options
    Select(browser.find_element(By.ID, "f-source")).select_by_value("slack")
    WebDriverWait(browser, 30).until(lambda d: texts(d, "#results .hit .title") == ["#zephyr-launch"])
    assert url_params(browser)["source"] == ["slack"]
    check_state(browser, "filter-source")
    Select(browser.find_element(By.ID, "f-source")).select_by_value("")
    WebDriverWait(browser, 30).until(lambda d: "Zephyr archive" in texts(d, "#results .hit .title"))
    Select(browser.find_element(By.ID, "f-within")).select_by_value("week")
    # the new results, not the empty list shown while they load
    WebDriverWait(browser, 30).until(lambda d: (t := texts(d, "#results .hit .title")) and "Zephyr archive" not in t)
    assert url_params(browser)["within"] == ["week"] and texts(browser, "#results .hit .title")
    browser.back()
    WebDriverWait(browser, 30).until(lambda d: "Zephyr archive" in texts(d, "#results .hit .title"))
    assert "within" not in url_params(browser) and url_params(browser)["q"] == ["Zephyr prototype rehearsal"]
    assert Select(browser.find_element(By.ID, "f-within")).first_selected_option.get_attribute("value") == ""
    browser.get(page_server.url + "/?q=Zephyr+rehearsal&mode=search&source=slack")  # a shared link
    WebDriverWait(browser, 30).until(lambda d: texts(d, "#results .hit .title") == ["#zephyr-launch"])


def test_space_channel_and_folder_facets_filter_results_and_url(browser: Driver, page_server: PageServer) -> None:  # noqa: F811
    open_page(browser, page_server.url + "/?q=Zephyr+prototype+rehearsal&mode=search")
    WebDriverWait(browser, 30).until(lambda d: "#zephyr-launch" in texts(d, "#results .hit .title"))
    WebDriverWait(browser, 30).until(lambda d: "#zephyr-launch (1)" in texts(d, "#f-container option"))
    places = texts(browser, "#f-container option")
    assert "#zephyr-launch (1)" in places and "Folder tokyo (1)" in places, places
    assert "Folder notes (14)" in places and not any("finance" in p for p in places), "counts follow the caller's ACL"
    Select(browser.find_element(By.ID, "f-container")).select_by_value("folder:notes")
    WebDriverWait(browser, 30).until(lambda d: (t := texts(d, "#results .hit .title")) and "#zephyr-launch" not in t)
    assert "Zephyr archive" in texts(browser, "#results .hit .title")
    assert url_params(browser)["container"] == ["folder:notes"]
    WebDriverWait(browser, 30).until(lambda d: texts(d, "#f-source option")[1:] == ["files (14)"])
    check_state(browser, "filter-folder")
    Select(browser.find_element(By.ID, "f-container")).select_by_value("channel:zephyr-launch")
    WebDriverWait(browser, 30).until(lambda d: texts(d, "#results .hit .title") == ["#zephyr-launch"])
    assert url_params(browser)["container"] == ["channel:zephyr-launch"]
    browser.back()
    WebDriverWait(browser, 30).until(lambda d: "Zephyr archive" in texts(d, "#results .hit .title"))
    selected = Select(browser.find_element(By.ID, "f-container")).first_selected_option
    assert selected.get_attribute("value") == "folder:notes"
    browser.get(page_server.url + "/?q=Zephyr+rehearsal&mode=search&container=channel%3Azephyr-launch")  # shared
    WebDriverWait(browser, 30).until(lambda d: texts(d, "#results .hit .title") == ["#zephyr-launch"])
    browser.find_element(By.ID, "ui-lang").click()
    try:
        WebDriverWait(browser, 30).until(lambda d: "フォルダ notes (14)" in texts(d, "#f-container option"))
    finally:
        browser.execute_script("localStorage.removeItem('askdocs-ui')")


def test_language_filter(browser: Driver, page_server: PageServer) -> None:  # noqa: F811
    open_page(browser, page_server.url + "/?q=Zephyr&mode=search")
    WebDriverWait(browser, 30).until(lambda d: css(d, "#results .hit"))
    Select(browser.find_element(By.ID, "f-language")).select_by_value("ja")
    WebDriverWait(browser, 30).until(lambda d: {h.get_attribute("lang") for h in css(d, "#results .hit")} == {"ja"})
    assert url_params(browser)["language"] == ["ja"]
    check_state(browser, "filter-language")


def test_feedback_is_stored_with_user_and_query(browser: Driver, page_server: PageServer) -> None:  # noqa: F811
    browser.delete_all_cookies()
    wait = open_page(browser, page_server.url + "/")
    assert not css(browser, "#results .feedback button"), "anonymous callers are not offered feedback"
    wait.until(lambda d: d.find_element(By.ID, "demo-btn").is_displayed())
    Select(browser.find_element(By.ID, "demo-person")).select_by_value("ana@kumo.example")
    browser.find_element(By.ID, "demo-btn").click()
    wait.until(lambda d: "ana@kumo.example" in d.find_element(By.ID, "who-text").text)
    search(browser, "Zephyr budget")
    hit = css(browser, "#results .hit")[0]
    assert hit.get_attribute("data-doc-id") == "files:finance/zephyr-budget.md", "the finance person sees it"
    hit.find_element(By.CSS_SELECTOR, ".fb-up").click()
    wait.until(lambda d: hit.find_element(By.CSS_SELECTOR, ".fb-note").text)
    hit.find_element(By.CSS_SELECTOR, ".feedback input").send_keys("exactly the budget I needed")
    hit.find_element(By.CSS_SELECTOR, ".fb-send").click()
    wait.until(lambda d: len(FeedbackStore(page_server.services.settings.data_dir / "feedback.sqlite3").all()) >= 2)
    assert hit.find_element(By.CSS_SELECTOR, ".fb-up").get_attribute("aria-pressed") == "true"
    check_state(browser, "feedback")
    rows = FeedbackStore(page_server.services.settings.data_dir / "feedback.sqlite3").all()
    mine = [r for r in rows if r.user == "ana@kumo.example" and r.query == "Zephyr budget"]
    assert [(r.doc_id, r.rating, r.comment) for r in mine[-2:]] == [
        ("files:finance/zephyr-budget.md", "up", ""),
        ("files:finance/zephyr-budget.md", "up", "exactly the budget I needed"),
    ]
    browser.find_element(By.ID, "logout-btn").click()
    wait.until(lambda d: "ana@kumo.example" not in d.find_element(By.ID, "who-text").text)


def test_japanese_ui_text_switchable(browser: Driver, page_server: PageServer) -> None:  # noqa: F811
    browser.delete_all_cookies()  # signed out, whatever the tests before left
    open_page(browser, page_server.url + "/")
    browser.execute_script("localStorage.removeItem('askdocs-ui')")
    browser.find_element(By.ID, "ui-lang").click()
    assert browser.find_element(By.ID, "ask-btn").text == "質問する"
    assert browser.find_element(By.TAG_NAME, "html").get_attribute("lang") == "ja"
    wait = open_page(browser, page_server.url + "/?q=ゼファー計画&mode=search")  # the choice is kept
    wait.until(lambda d: css(d, "#results .hit"))
    assert browser.find_element(By.ID, "search-btn").text == "検索"
    assert "未サインイン" in browser.find_element(By.ID, "who-text").text
    assert texts(browser, "label[for] , #filters span")[1:4] == ["ソース", "スペース／チャンネル／フォルダ", "更新日"]
    check_state(browser, "ui-japanese")
    browser.find_element(By.ID, "ui-lang").click()
    assert browser.find_element(By.ID, "ask-btn").text == "Ask"
    browser.execute_script("localStorage.removeItem('askdocs-ui')")


def test_keyboard_and_360px_layout(browser: Driver, page_server: PageServer) -> None:  # noqa: F811
    browser.set_window_size(360, 800)
    try:
        wait = open_page(browser, page_server.url + "/")
        width = browser.execute_script("return document.documentElement.clientWidth")
        browser.find_element(By.TAG_NAME, "h1").click()
        browser.find_element(By.TAG_NAME, "body").send_keys("/")
        assert browser.switch_to.active_element.get_attribute("id") == "q", "/ focuses the box"
        browser.switch_to.active_element.send_keys("When is the Zephyr launch date?", Keys.ENTER)
        wait.until(lambda d: css(d, "#answer-sources li, #answer.refusal"))
        assert browser.execute_script("return document.documentElement.scrollWidth") <= width, "no sideways scroll"
        outside = browser.execute_script(
            "return [...document.querySelectorAll('header *, main *')].filter((e) => e.offsetParent !== null)"
            ".filter((e) => { const r = e.getBoundingClientRect(); return r.left < -1 || r.right > arguments[0] + 1; })"
            ".map((e) => e.id || e.className || e.tagName)",
            width,
        )
        assert not outside, f"cut off at 360 px: {outside}"
        outline = browser.execute_script(
            "return getComputedStyle(document.activeElement, ':focus-visible').outlineStyle"
        )
        assert outline != "none", "visible focus"
        check_state(browser, "mobile-360")
        browser.switch_to.active_element.send_keys(Keys.ESCAPE)
        assert browser.find_element(By.ID, "q").get_attribute("value") == ""
        assert not css(browser, "#results .hit") and not browser.find_element(By.ID, "answer").is_displayed()
        assert "q" not in url_params(browser)
        check_state(browser, "empty")
    finally:
        browser.set_window_size(1100, 900)

"""Answers that exist only inside a PDF page, a slide or a spreadsheet row, through HTTP, cited to the place."""

from __future__ import annotations

import httpx
import pytest
from api_fixtures import LiveServer, live_server  # noqa: F401
from browser_fixtures import browser  # noqa: F401 - headless Chromium

FINANCE = ("user:ana@kumo.example", "group:finance")


def _post(server: LiveServer, path: str, body: dict, headers: dict[str, str] | None = None) -> dict:
    response = httpx.post(f"{server.url}{path}", json=body, headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize(
    ("question", "doc_id", "fact", "location"),
    [
        (
            "How much notice does Acme need to give to cancel the service agreement for convenience?",
            "files:sales/acme-service-agreement.pdf",
            "90 days' written notice",
            {"page": 2, "anchor": "page=2", "label": "p. 2"},
        ),
        (
            "When does the K3 robot launch?",
            "files:sales/kumo-roadmap-2027.pptx",
            "15 September 2027",
            {"slide": 3, "anchor": "slide=3", "label": "slide 3"},
        ),
        (
            "What is the monthly fee of the Platinum support plan?",
            "files:sales/price-list-2027.xlsx",
            "420000",
            {"sheet": "Support plans", "rows": [2, 4], "label": "Support plans, rows 2-4"},
        ),
        (
            "事故の報告書は何時間以内に社内システムへ登録しますか？",
            "files:tokyo/anzen-kanri-kitei.pdf",
            "24 時間以内",
            {"page": 2, "anchor": "page=2", "label": "p. 2"},
        ),
        (
            "新入社員研修の第3週の現場実習はどこで行いますか？",
            "files:tokyo/shinsotsu-kenshu-2027.pptx",
            "大阪倉庫",
            {"slide": 2, "anchor": "slide=2", "label": "slide 2"},
        ),
    ],
    ids=["pdf-page", "slide", "sheet-row", "japanese-pdf-page", "japanese-slide"],
)
def test_ask_cites_the_place(live_server: LiveServer, question: str, doc_id: str, fact: str, location: dict) -> None:  # noqa: F811
    answer = _post(live_server, "/v1/ask", {"question": question})
    assert answer["found"] is True, answer["text"]
    assert fact in answer["text"]
    cited = [c for c in answer["citations"] if c["doc_id"] == doc_id and fact in c["snippet"]]
    assert cited, answer["citations"]
    expected = {"page": None, "slide": None, "sheet": None, "rows": None, "anchor": "", **location}
    assert cited[0]["location"] == expected
    anchor = location.get("anchor")
    assert cited[0]["url"].startswith(doc_id.removeprefix("files:")), "a workspace path, never a server path"
    assert cited[0]["url"].endswith(f"#{anchor}") if anchor else "#" not in cited[0]["url"]


def test_search_hit_carries_page_and_link(live_server: LiveServer) -> None:  # noqa: F811
    hits = _post(live_server, "/v1/search", {"query": "cancel the agreement for convenience written notice"})["hits"]
    assert hits[0]["doc_id"] == "files:sales/acme-service-agreement.pdf"
    assert hits[0]["location"]["page"] == 2 and hits[0]["location"]["label"] == "p. 2"
    assert hits[0]["url"].endswith("acme-service-agreement.pdf#page=2")
    assert hits[0]["heading"] == "4. Cancellation"
    # merged neighbour chunks may come from the pages around it: each passage carries its own page
    pages = {p["location"]["page"] for p in hits[0]["passages"] if "90 days' written notice" in p["text"]}
    assert pages == {2}


def test_restricted_spreadsheet_rows_follow_the_acl(live_server: LiveServer) -> None:  # noqa: F811
    query = {"query": "Hoshi Freight robot delivery rate", "top_k": 50}
    public = _post(live_server, "/v1/search", query)["hits"]
    assert not [h for h in public if h["doc_id"] == "files:finance/vendor-rates-2026.xlsx"]
    assert all("Hoshi" not in h["text"] for h in public)
    finance = _post(live_server, "/v1/search", query, live_server.key(*FINANCE))["hits"]
    assert finance[0]["doc_id"] == "files:finance/vendor-rates-2026.xlsx"
    assert finance[0]["location"]["sheet"] == "Logistics vendors"
    assert "Vendor | Service | Rate | Contract ends" in finance[0]["text"], "the header row is kept with the rows"


@pytest.mark.browser
def test_search_page_shows_the_page(browser, live_server: LiveServer) -> None:  # type: ignore[no-untyped-def]  # noqa: F811
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(live_server.url + "/")
    browser.find_element(By.ID, "q").send_keys("How much notice does Acme need to give to cancel the agreement?")
    browser.find_element(By.ID, "ask-btn").click()
    wait = WebDriverWait(browser, 30)
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#answer-sources li a"))
    sources = [a.text for a in browser.find_elements(By.CSS_SELECTOR, "#answer-sources li a")]
    assert "Master Service Agreement: Kumo Robotics and Acme Logistics, p. 2" in sources
    # a file location is not a web link: the entry shows its workspace path at the page, and jumps to its hit
    path = browser.find_elements(By.CSS_SELECTOR, "#answer-sources li .path")[0].text
    assert path == "(sales/acme-service-agreement.pdf#page=2)", path
    assert browser.find_elements(By.CSS_SELECTOR, "#answer-sources li a")[0].get_attribute("href").endswith("#hit-1")
    metas = [m.text for m in browser.find_elements(By.CSS_SELECTOR, "#results .hit .meta")]
    assert any("· p. 2 ·" in meta for meta in metas), metas

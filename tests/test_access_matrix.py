"""Every sample person x every restricted document, through every way to read it: seen exactly when allowed.
And a property test: no hit ever carries an ACL that misses all of the caller's principals."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from api_fixtures import WORKSPACE, LiveServer, ask_streamed, demo_server, live_server  # noqa: F401
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from askdocs.api.auth.demo import DemoPerson, load_people
from askdocs.connectors.files.connector import FilesConnector
from askdocs.database import engine_for
from askdocs.identity import IdentitySnapshot, IdentityStore
from askdocs.models import PUBLIC, Document

PEOPLE = load_people(WORKSPACE / "_people.toml")
DOCS = {d.id: d for d in FilesConnector(WORKSPACE).load_all() if isinstance(d, Document)}
# A question each restricted document answers (examples/QUESTIONS.md, R1-R7, and a row of a restricted sheet).
QUESTIONS = {
    "files:finance/q3-2026-budget.md": "How much is reserved in the Falcon budget line?",
    "files:finance/payroll-calendar.md": "Which bank account funds US payroll?",
    "files:finance/vendor-contracts.txt": "Who supplies the K2 arm actuators and what is the contract worth?",
    "files:leadership/reorg-plan-2027.md": "When does the Project Heron reorganisation take effect?",
    "files:leadership/board-meeting-2026-09.html": "How much is the Series B in the Kestrel term sheet?",
    "files:hr/private/mei-tanaka-relocation.md": "How much is the Cedar relocation grant?",
    "files:tokyo/managers/kyuyo-kaitei-2027.md": "椿プランの平均昇給率は何％ですか？",
    "files:finance/vendor-rates-2026.xlsx": "How much does Hoshi Freight charge per robot for delivery in Nagoya?",
}


def test_the_matrix_covers_every_restricted_document() -> None:
    assert {doc_id for doc_id, doc in DOCS.items() if doc.acl != [PUBLIC]} == set(QUESTIONS)
    assert len(PEOPLE) >= 5


@contextmanager
def _page_session(url: str, person: DemoPerson) -> Iterator[httpx.Client]:
    """A client doing what the search page does: demo sign-in, then POSTs with the session's CSRF token."""
    with httpx.Client(base_url=url, timeout=60) as page:
        csrf = page.get("/auth/me").json()["csrf"]
        assert page.post("/auth/demo", json={"email": person.email}, headers={"X-CSRF-Token": csrf}).status_code == 200
        page.headers["X-CSRF-Token"] = page.get("/auth/me").json()["csrf"]
        yield page


def _seen(answer: dict[str, Any]) -> tuple[set[str], set[str]]:
    return {h["doc_id"] for h in answer["hits"]}, {c["doc_id"] for c in answer["citations"]}


@pytest.mark.parametrize("email", sorted(PEOPLE))
def test_each_person_sees_exactly_the_documents_they_may(live_server: LiveServer, demo_server: str, email: str) -> None:  # noqa: F811
    person = PEOPLE[email]
    held = set(person.identity().principals)
    key = live_server.key(*person.identity().principals)
    with _page_session(demo_server, person) as page:
        for doc_id, question in QUESTIONS.items():
            allowed = bool(held & set(DOCS[doc_id].acl))
            where = f"{person.name} / {doc_id}"
            searched = httpx.post(f"{demo_server}/v1/search", json={"query": question}, headers=key, timeout=60)
            answered = httpx.post(f"{demo_server}/v1/ask", json={"question": question}, headers=key, timeout=60)
            streamed = ask_streamed(demo_server, question, key)
            page_search = page.post("/v1/search", json={"query": question})
            page_ask = page.post("/v1/ask", json={"question": question})
            for response in (searched, answered, page_search, page_ask):
                assert response.status_code == 200, response.text
            assert (doc_id in {h["doc_id"] for h in searched.json()["hits"]}) is allowed, f"search: {where}"
            assert (doc_id in {h["doc_id"] for h in page_search.json()["hits"]}) is allowed, f"page search: {where}"
            for channel, answer in (("ask", answered.json()), ("stream", streamed), ("page ask", page_ask.json())):
                hits, cited = _seen(answer)
                assert (doc_id in hits) is allowed, f"{channel} hits: {where}"
                assert (doc_id in cited) is allowed, f"{channel} citations: {where}"


POOL = sorted({p for doc in DOCS.values() for p in doc.acl} - {PUBLIC}) + [
    "user:nobody@kumo.example", "group:idp:finance", "group:eng", "space:ENG", "user:ana@kumo.example",
]  # fmt: skip
WORDS = ["Falcon", "budget", "line", "Heron", "reorganisation", "Kestrel", "Series", "Cedar", "relocation", "grant",
         "payroll", "Osprey", "Bluewren", "actuators", "椿プラン", "昇給率", "VPN", "leave", "board", "meeting",
         "acquisition", "contract", "東京", "policy", "2027", "USD"]  # fmt: skip


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    principals=st.lists(st.sampled_from(POOL), max_size=4, unique=True),
    words=st.lists(st.sampled_from(WORDS), min_size=1, max_size=5),
    mode=st.sampled_from(["hybrid", "dense", "bm25"]),
)
def test_no_hit_outside_the_callers_principals(
    live_server: LiveServer,  # noqa: F811
    principals: list[str],
    words: list[str],
    mode: str,
) -> None:
    held = {PUBLIC, *principals}
    hits = live_server.services.retriever.search(" ".join(words), sorted(held), top_k=20, mode=mode)  # type: ignore[arg-type]
    for hit in hits:
        assert held & set(DOCS[hit.doc_id].acl), f"{hit.doc_id} (acl {DOCS[hit.doc_id].acl}) shown to {sorted(held)}"


def test_people_known_only_by_email_see_what_their_synced_groups_allow(live_server: LiveServer) -> None:  # noqa: F811
    """Keys carry only ``user:<email>``; the groups come from the identity store: each person's source account
    (resolved to the e-mail) is in a source group, nested in the group the sample ACLs name."""
    store = IdentityStore(engine_for(live_server.services.settings))
    snapshot = IdentitySnapshot()
    for email, person in PEOPLE.items():
        account = f"user:confluence:acc-{email.split('@')[0]}"
        snapshot.accounts[account] = email
        for group in person.groups:
            snapshot.add_member(f"group:confluence:{group}-team", account)
            snapshot.add_member(f"group:{group}", f"group:confluence:{group}-team")
    store.replace("matrix", snapshot)
    try:
        for email, person in sorted(PEOPLE.items()):
            held = set(person.identity().principals)
            key = live_server.key(f"user:{email}")
            for doc_id, question in QUESTIONS.items():
                allowed, where = bool(held & set(DOCS[doc_id].acl)), f"{person.name} / {doc_id}"
                searched = httpx.post(f"{live_server.url}/v1/search", json={"query": question}, headers=key, timeout=60)
                assert searched.status_code == 200, searched.text
                assert (doc_id in {h["doc_id"] for h in searched.json()["hits"]}) is allowed, f"search: {where}"
                hits, cited = _seen(ask_streamed(live_server.url, question, key))
                assert (doc_id in hits) is allowed and (doc_id in cited) is allowed, f"stream: {where}"
    finally:
        store.forget("matrix")

// askdocs search page. Every text that comes from a document is set with textContent or text nodes, never as HTML.
"use strict";
const $ = (id) => document.getElementById(id);
const ICONS = {files: "F", slack: "#", confluence: "C", gdocs: "G", google: "G"};  // plain text: no emoji font needed
const WITHIN_DAYS = {day: 1, week: 7, month: 31, year: 366};
const PAGE = 10, MAX_HITS = 50;
let ui = localStorage.getItem("askdocs-ui") || document.documentElement.lang || "en";
let shownSearch = location.search;
let me = null, csrf = "", state = {q: "", mode: "ask", source: "", container: "", within: "", language: "", n: PAGE};
const FILTERS = [["f-source", "source"], ["f-container", "container"], ["f-within", "within"], ["f-language", "language"]];
const t = (key) => (TEXT[ui] || TEXT.en)[key] || TEXT.en[key];

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}
function isWeb(url) { return /^https?:\/\//i.test(url || ""); }
function shownPath(url, docId, location) {
  // Only http(s) opens; a file location is shown as its workspace-relative path.
  const rel = /^file:/i.test(url || "") ? docId.slice(docId.indexOf(":") + 1) : (url || "");
  return rel && location && location.anchor && !rel.includes("#") ? `${rel}#${location.anchor}` : rel;
}
function sourceLink(cls, text, url, fallback) {
  const a = el("a", cls, text);
  if (isWeb(url)) { a.href = url; a.target = "_blank"; a.rel = "noopener noreferrer"; }
  else if (fallback) a.href = fallback;
  else return el("span", cls, text);
  return a;
}
function applyText() {
  document.documentElement.lang = ui;
  for (const e of document.querySelectorAll("[data-i18n]")) e.textContent = t(e.dataset.i18n);
  for (const e of document.querySelectorAll("[data-i18n-placeholder]")) e.placeholder = t(e.dataset.i18nPlaceholder);
  for (const e of document.querySelectorAll("[data-i18n-label]")) e.setAttribute("aria-label", t(e.dataset.i18nLabel));
  const other = ui === "ja" ? "en" : "ja";
  $("ui-lang").textContent = other === "ja" ? "日本語" : "English";
  $("ui-lang").lang = other;
  showWho();
}
function setStatus(text, isError) { $("status").textContent = text; $("status").classList.toggle("error", !!isError); }

async function post(path, body) {
  const headers = {"Content-Type": "application/json", "X-CSRF-Token": csrf};
  return fetch(path, {method: "POST", headers, body: JSON.stringify(body), credentials: "same-origin"});
}
async function failure(res) {
  const data = await res.json().catch(() => ({detail: res.statusText}));
  return {data, message: typeof data.detail === "string" ? data.detail : JSON.stringify(data.detail)};
}

// --- highlighting (English words by stem, Japanese by shared runs of kanji/katakana) ---
const STOP = new Set("the a an and or of to in on at for is are was were be by with what how when where who why which does do did can i you it this that from my our your as".split(" "));
const CJK = /[\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff\uff66-\uff9f]/;
const STRONG = /[\u30a0-\u30ff\u3400-\u9fff\uf900-\ufaff]/;
function stem(word) { return word.toLowerCase().replace(/(ations?|ing|ed|es|s|ly|ion)$/, (m, _s, i) => (i >= 3 ? "" : m)); }
function matchRanges(text, query) {
  const ranges = [];
  const terms = (query.match(/[\p{L}\p{N}]+/gu) || []).filter((w) => !CJK.test(w) && w.length > 1 && !STOP.has(w.toLowerCase())).map(stem);
  if (terms.length) {
    for (const m of text.matchAll(/[\p{L}\p{N}]+/gu)) {
      if (!CJK.test(m[0]) && terms.some((s) => s.length > 1 && stem(m[0]).startsWith(s))) ranges.push([m.index, m.index + m[0].length]);
    }
  }
  const cjkQuery = (query.match(new RegExp(CJK.source + "+", "gu")) || []).join("\u0000");
  for (let i = 0; cjkQuery && i < text.length;) {
    let best = 0;
    for (let len = 2; i + len <= text.length && CJK.test(text[i + len - 1]) && CJK.test(text[i]); len++) {
      if (cjkQuery.includes(text.slice(i, i + len))) best = len; else break;
    }
    if (best && STRONG.test(text.slice(i, i + best))) { ranges.push([i, i + best]); i += best; } else i++;
  }
  return ranges.sort((a, b) => a[0] - b[0]);
}
function highlighted(cls, text, query) {
  const p = el("p", cls);
  let at = 0;
  for (const [start, end] of matchRanges(text, query)) {
    if (start < at) continue;
    p.append(document.createTextNode(text.slice(at, start)), el("mark", null, text.slice(start, end)));
    at = end;
  }
  p.append(document.createTextNode(text.slice(at)));
  return p;
}
function excerpt(text, query, size = 480) {
  if (text.length <= size) return text;
  const first = matchRanges(text, query)[0];
  const start = first ? Math.max(0, first[0] - 120) : 0;
  return (start ? "…" : "") + text.slice(start, start + size) + (start + size < text.length ? "…" : "");
}

// --- feedback ---
function feedbackBar(query, docId) {
  const bar = el("div", "feedback");
  if (!me || me.via === "anonymous") return bar;
  const note = el("span", "fb-note");
  note.setAttribute("role", "status");
  const comment = el("input");
  comment.type = "text"; comment.maxLength = 2000; comment.hidden = true;
  comment.setAttribute("aria-label", t("comment")); comment.placeholder = t("comment");
  const send = el("button", "secondary fb-send", t("send"));
  send.type = "button"; send.hidden = true;
  let rating = null;
  const submit = async (withComment) => {
    const body = {query, rating, doc_id: docId, comment: withComment ? comment.value : ""};
    const res = await post("/v1/feedback", body);
    note.textContent = res.ok ? t("thanks") : `${t("error")}: ${(await failure(res)).message}`;
  };
  const thumbs = [["up", "▲", "helpful"], ["down", "▼", "notHelpful"]].map(([value, icon, label]) => {
    const b = el("button", `secondary fb-${value}`, icon);
    b.type = "button"; b.setAttribute("aria-label", t(label)); b.title = t(label); b.setAttribute("aria-pressed", "false");
    b.addEventListener("click", () => {
      rating = value;
      for (const other of bar.querySelectorAll("button[aria-pressed]")) other.setAttribute("aria-pressed", String(other === b));
      comment.hidden = send.hidden = false;
      submit(false);
    });
    return b;
  });
  send.addEventListener("click", () => submit(true));
  bar.append(...thumbs, comment, send, note);
  return bar;
}

// --- results ---
function hitMeta(h) {
  const meta = el("div", "meta");
  const icon = el("span", "icon", ICONS[h.source] || h.source.slice(0, 1).toUpperCase());
  icon.setAttribute("aria-hidden", "true");
  const parts = [h.source];
  const path = shownPath(h.url, h.doc_id, h.location);
  if (!isWeb(h.url) && path) parts.push(path);
  if (h.location && h.location.label) parts.push(h.location.label);
  parts.push(h.heading || "—");
  if (h.updated_at) parts.push(`${t("updatedOn")} ${new Date(h.updated_at).toLocaleDateString(ui)}`);
  meta.append(icon, document.createTextNode(" " + parts.join(" · ")));
  return meta;
}
function renderHits(hits, query) {
  const box = $("results");
  box.replaceChildren();
  $("more-btn").hidden = hits.length < state.n || state.n >= MAX_HITS;
  if (!hits.length) { box.append(el("p", "empty", t("noHits"))); return; }
  hits.forEach((h, i) => {
    const div = el("article", "hit");
    div.id = `hit-${i + 1}`;
    div.lang = h.language || "";
    div.dataset.docId = h.doc_id;
    div.append(sourceLink("title", h.title, h.url), hitMeta(h), highlighted("snippet", excerpt(h.text, query), query),
               feedbackBar(query, h.doc_id));
    box.append(div);
  });
}

// --- the answer ---
function renderAnswer(answer, hits) {
  const box = $("answer");
  const byN = new Map();
  for (const c of answer.citations) if (!byN.has(c.n)) byN.set(c.n, c);
  const hitAnchor = (docId) => { const i = hits.findIndex((h) => h.doc_id === docId); return i >= 0 ? `#hit-${i + 1}` : null; };
  const text = $("answer-text");
  text.replaceChildren();
  let at = 0;
  for (const m of answer.text.matchAll(/\[(\d+)\]/g)) {
    const c = byN.get(Number(m[1]));
    if (!c) continue;
    text.append(document.createTextNode(answer.text.slice(at, m.index)));
    const a = el("a", "cite", `[${c.n}]`);
    a.href = isWeb(c.url) ? c.url : `#src-${c.n}`;
    if (isWeb(c.url)) { a.target = "_blank"; a.rel = "noopener noreferrer"; }
    const tip = el("span", "tip", `${c.title}: “${c.snippet}”`);
    tip.id = `tip-${c.n}-${m.index}`; tip.setAttribute("role", "tooltip");
    a.setAttribute("aria-describedby", tip.id);
    a.append(tip);
    text.append(a);
    at = m.index + m[0].length;
  }
  text.append(document.createTextNode(answer.text.slice(at)));
  const list = $("answer-sources");
  list.replaceChildren();
  for (const c of byN.values()) {
    const li = el("li");
    li.value = c.n; li.id = `src-${c.n}`;
    const label = c.location && c.location.label ? `${c.title}, ${c.location.label}` : c.title;
    li.append(sourceLink("source-title", label, c.url, hitAnchor(c.doc_id)));
    const path = shownPath(c.url, c.doc_id, c.location);
    if (!isWeb(c.url) && path) li.append(el("span", "path", ` (${path})`));
    li.append(el("span", "snippet", ` — ${c.snippet}`));
    list.append(li);
  }
  box.classList.toggle("refusal", !answer.found);
  if (!answer.found) text.append(el("span", "refusal-note", "\n" + t("refusal")));
  $("answer-feedback").replaceWith(Object.assign(feedbackBar(answer.question, null), {id: "answer-feedback"}));
  box.hidden = false;
}
async function readEvents(res, onEvent) {
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let buffer = "";
  for (;;) {
    const {value, done} = await reader.read();
    buffer += decoder.decode(value || new Uint8Array(), {stream: !done});
    let cut;
    while ((cut = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const fields = {};
      for (const line of block.split("\n")) { const i = line.indexOf(": "); if (i > 0) fields[line.slice(0, i)] = line.slice(i + 2); }
      if (fields.event) onEvent(fields.event, JSON.parse(fields.data || "{}"));
    }
    if (done) return;
  }
}
async function ask(q, filters) {
  const res = await post("/v1/ask", {question: q, stream: true, ...(filters ? {filters} : {})});
  if (!res.ok) {
    const {data, message} = await failure(res);
    if (Array.isArray(data.hits)) renderHits(data.hits, q);
    throw new Error(message);
  }
  let hits = [];
  const text = $("answer-text");
  await readEvents(res, (event, data) => {
    if (event === "hits") { hits = data.hits; renderHits(hits, q); setStatus(""); }
    else if (event === "token") { $("answer").hidden = false; text.append(document.createTextNode(data.text)); }
    else if (event === "citations") renderAnswer(data, hits);
    else if (event === "error") setStatus(`${t("error")}: ${data.detail}`, true);
  });
}
async function search(q, filters) {
  const res = await post("/v1/search", {query: q, top_k: state.n, ...(filters ? {filters} : {})});
  if (!res.ok) throw new Error((await failure(res)).message);
  renderHits((await res.json()).hits, q);
}

// --- state in the URL ---
function filtersFor(s) {
  const f = {};
  if (s.source) f.sources = [s.source];
  if (s.container) f.containers = [s.container];
  if (WITHIN_DAYS[s.within]) f.updated_after = new Date(Date.now() - WITHIN_DAYS[s.within] * 864e5).toISOString();
  if (s.language) f.language = s.language;
  return Object.keys(f).length ? f : null;
}
function readUrl() {
  const p = new URLSearchParams(location.search);
  const n = Math.min(MAX_HITS, Math.max(PAGE, Number(p.get("n")) || PAGE));
  state = {q: p.get("q") || "", mode: p.get("mode") === "search" ? "search" : "ask", source: p.get("source") || "",
           container: p.get("container") || "", within: p.get("within") || "", language: p.get("language") || "", n};
  $("q").value = state.q;
  for (const [id, key] of FILTERS) {
    const select = $(id);
    if (state[key] && ![...select.options].some((o) => o.value === state[key])) select.append(new Option(state[key], state[key]));
    select.value = state[key];
  }
}
function writeUrl() {
  const p = new URLSearchParams();
  for (const key of ["q", "mode", "source", "container", "within", "language"]) if (state[key]) p.set(key, state[key]);
  if (state.n !== PAGE) p.set("n", String(state.n));
  const url = `${location.pathname}${p.toString() ? "?" + p : ""}`;
  if (url !== location.pathname + location.search) history.pushState(null, "", url);
  shownSearch = location.search;
}
function clearResults() {
  $("results").replaceChildren(); $("answer-text").replaceChildren(); $("answer-sources").replaceChildren();
  $("answer").hidden = true; $("more-btn").hidden = true; setStatus("");
}
async function run() {
  clearResults();
  if (!state.q) return;
  setStatus(t("thinking"));
  try {
    const filters = filtersFor(state);
    if (state.mode === "ask" && state.n === PAGE) await ask(state.q, filters); else await search(state.q, filters);
    if ($("status").textContent === t("thinking")) setStatus("");
  } catch (err) {
    setStatus(`${t("error")}: ${err.message}`, true);
  }
}
function submit(mode) {
  state.q = $("q").value.trim(); state.mode = mode; state.n = PAGE;
  if (!state.q) return;
  writeUrl(); run();
}
function placeLabel(c) {
  // "space:ENG" -> "Space ENG", "channel:general" -> "#general", "folder:hr" -> "Folder hr"
  return c.kind === "channel" ? `#${c.name}` : `${t(c.kind) || c.kind} ${c.name}`;
}
function fillFacet(id, key, items, label) {
  const select = $(id);
  const keep = [...select.options].slice(0, 1);
  select.replaceChildren(...keep, ...items.map((s) => new Option(`${label(s)} (${s.documents})`, s.value)));
  if (state[key] && !items.some((s) => s.value === state[key])) select.append(new Option(`${state[key]} (0)`, state[key]));
  select.value = state[key];
}
async function loadFacets() {
  // Each facet counts with the other filters applied (the engine leaves a facet's own filter out).
  const p = new URLSearchParams();
  const since = filtersFor({within: state.within});
  if (since) p.set("updated_after", since.updated_after);
  if (state.source) p.set("source", state.source);
  if (state.container) p.set("container", state.container);
  const res = await fetch(`/v1/facets${p.toString() ? "?" + p : ""}`, {credentials: "same-origin"});
  if (!res.ok) return;
  const data = await res.json();
  fillFacet("f-source", "source", data.sources.map((s) => ({...s, value: s.name})), (s) => s.name);
  fillFacet("f-container", "container", data.containers, placeLabel);
}

// --- who is signed in ---
function showWho() {
  if (!me) return;
  const signedIn = me.via !== "anonymous";
  $("who-text").textContent = signedIn
    ? `${t("signedIn")} ${me.name ? me.name + " (" + me.email + ")" : (me.email || t("anApiKey"))}`
    : t("anon");
}
async function loadMe() {
  const res = await fetch("/auth/me", {credentials: "same-origin"});
  if (!res.ok) { $("who-text").textContent = t("unavailable"); return; }
  me = await res.json();
  csrf = me.csrf;
  showWho();
  $("logout-btn").hidden = !(me.via === "session" || me.via === "demo");
  $("login-link").hidden = me.via !== "anonymous" || !me.sign_in;
  const people = me.demo_people || [];
  $("demo-person").hidden = $("demo-btn").hidden = !people.length;
  $("demo-person").replaceChildren(...people.map((p) => {
    const o = new Option(`${p.name}, ${p.title} (${p.groups.length ? p.groups.join(", ") : t("noGroups")})`, p.email);
    o.selected = p.email === me.email;
    return o;
  }));
}
async function changeUser(path, body) {
  const res = await post(path, body);
  if (!res.ok) { setStatus(`${t("error")}: ${(await failure(res)).message}`, true); return; }
  await loadMe();
  clearResults();
  await loadFacets();
}

function start() {
  applyText();
  readUrl();
  $("search-form").addEventListener("submit", (e) => { e.preventDefault(); submit("ask"); });
  $("search-btn").addEventListener("click", () => submit("search"));
  $("more-btn").addEventListener("click", async () => {
    state.n = Math.min(MAX_HITS, state.n + PAGE);
    writeUrl();
    try { await search(state.q, filtersFor(state)); } catch (err) { setStatus(`${t("error")}: ${err.message}`, true); }
  });
  for (const [id, key] of FILTERS) {
    $(id).addEventListener("change", () => {
      state[key] = $(id).value; state.n = PAGE;
      writeUrl();
      if (key !== "language") loadFacets();
      run();
    });
  }
  $("demo-btn").addEventListener("click", () => changeUser("/auth/demo", {email: $("demo-person").value}));
  $("logout-btn").addEventListener("click", () => changeUser("/auth/logout", {}));
  $("ui-lang").addEventListener("click", () => {
    ui = ui === "ja" ? "en" : "ja";
    localStorage.setItem("askdocs-ui", ui);
    applyText();
    loadFacets();
    run();
  });
  window.addEventListener("popstate", () => {
    if (location.search === shownSearch) return;  // an in-page jump (#hit-2), not another search
    shownSearch = location.search;
    readUrl(); loadFacets(); run();
  });
  document.addEventListener("keydown", (e) => {
    const typing = /^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName);
    if (e.key === "/" && !typing) { e.preventDefault(); $("q").focus(); $("q").select(); }
    else if (e.key === "Escape" && document.activeElement === $("q")) {
      e.preventDefault();
      $("q").value = ""; state.q = ""; clearResults(); writeUrl();
    }
  });
  loadMe().then(loadFacets).then(() => { if (state.q) run(); else $("q").focus(); });
}
start();

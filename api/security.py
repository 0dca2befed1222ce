"""Web hardening: trusted Host names, security headers, and no server path in a hit's or citation's url."""

from __future__ import annotations

import base64
import hashlib
import re
from urllib.parse import urlsplit

from starlette.types import Message, Receive, Scope, Send

from askdocs.api.limits import HttpMiddleware, send_json
from askdocs.models import Hit
from askdocs.settings import Settings

# On every response.
COMMON_HEADERS = {"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"}
# On HTML responses, with a Content-Security-Policy built from the page itself (``content_security_policy``).
HTML_HEADERS = {"X-Frame-Options": "DENY", "Cross-Origin-Opener-Policy": "same-origin"}
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.S | re.I)
_EXTERNAL = re.compile(rb"""<(script|link)\b[^>]*\b(?:src|href)=["'](https://[^"'/]+)""", re.I)


def host_allowed(host_header: str, trusted: list[str]) -> bool:
    """Whether a Host header (port ignored) names one of ``trusted`` (``*.x`` subdomains of x, ``*`` any)."""
    host = host_header.strip().lower()
    if host.startswith("["):
        host = host[1 : host.find("]")] if "]" in host else host
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    for name in (t.strip().lower() for t in trusted):
        if name == "*" or host == name or (name.startswith("*.") and host.endswith(name[1:])):
            return True
    return False


def content_security_policy(html: bytes) -> str:
    """A policy that lets this page run exactly its own inline scripts (by hash) and the scripts and styles it
    names from other origins, and that forbids framing, plugins and form posts elsewhere."""
    hashes = [
        "'sha256-" + base64.b64encode(hashlib.sha256(body).digest()).decode() + "'"
        for body in _INLINE_SCRIPT.findall(html)
    ]
    origins = sorted({origin.decode() for _, origin in _EXTERNAL.findall(html)})
    scripts = " ".join(["'self'", *hashes, *origins])
    styles = " ".join(["'self'", "'unsafe-inline'", *origins])
    images = " ".join(["'self'", "data:", *origins])
    return (
        f"default-src 'self'; script-src {scripts}; style-src {styles}; img-src {images}; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


class WebHardening(HttpMiddleware):
    """400 for an untrusted Host; security headers on every response, a page-specific CSP on HTML."""

    async def handle(self, scope: Scope, receive: Receive, send: Send, settings: Settings) -> None:
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        if not host_allowed(host, settings.trusted_hosts):
            await send_json(send, 400, {"detail": "untrusted Host header (see ASKDOCS_TRUSTED_HOSTS)"})
            return
        start: Message | None = None
        html: list[bytes] = []

        async def hardened(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])]
                headers += [(k.lower().encode(), v.encode()) for k, v in COMMON_HEADERS.items()]
                message = {**message, "headers": headers}
                if dict(headers).get(b"content-type", b"").startswith(b"text/html"):
                    start = message  # held until the page is complete: its policy depends on its scripts
                    return
            elif message["type"] == "http.response.body" and start is not None:
                html.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                page = b"".join(html)
                extra = {**HTML_HEADERS, "Content-Security-Policy": content_security_policy(page)}
                headers = start["headers"] + [(k.lower().encode(), v.encode()) for k, v in extra.items()]
                await send({**start, "headers": headers})
                message = {"type": "http.response.body", "body": page}
            await send(message)

        await self.app(scope, receive, hardened)


def public_url(url: str, doc_id: str) -> str:
    """``url`` unless it is a ``file:`` location, which becomes the document's workspace-relative path (its
    ``#page=N`` or other place kept)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "file":
        return url
    path = doc_id.split(":", 1)[1] if ":" in doc_id else ""
    return f"{path}#{parts.fragment}" if path and parts.fragment else path


def public_hits(hits: list[Hit]) -> list[Hit]:
    """``hits`` with server paths replaced by workspace-relative ones."""
    return [h.model_copy(update={"url": public_url(h.url, h.doc_id)}) for h in hits]

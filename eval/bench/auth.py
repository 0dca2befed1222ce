"""What identifying a caller costs per request: an API key lookup, an OIDC bearer token check (JWKS cached).

``python -m askdocs.eval.bench.auth [--n 2000]`` prints microseconds per call. The JWKS is served by a small HTTP
server on 127.0.0.1 and fetched once, as a real provider's would be.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from askdocs.api.auth.keys import KeyStore, key_principals
from askdocs.api.auth.oidc import BearerVerifier
from askdocs.settings import AuthSettings


@contextmanager
def jwks_server(keys: dict[str, Any]) -> Iterator[str]:
    """Serve a discovery document and ``keys`` (public JWKs) on a free 127.0.0.1 port; yields the issuer."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            issuer = f"http://127.0.0.1:{self.server.server_port}"  # type: ignore[attr-defined]
            body = {"issuer": issuer, "jwks_uri": f"{issuer}/jwks"} if "well-known" in self.path else keys
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()


def per_call_us(call: Callable[[], object], n: int) -> float:
    """Mean microseconds of ``call`` over ``n`` runs (after 20 warm-up calls)."""
    for _ in range(20):
        call()
    started = time.perf_counter()
    for _ in range(n):
        call()
    return round((time.perf_counter() - started) / n * 1e6, 1)


def measure(n: int) -> dict[str, float]:
    """Microseconds per API key check and per RS256 / ES256 bearer token check."""
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as folder:
        store = KeyStore(Path(folder) / "keys.sqlite3")
        secret = store.create("bench", key_principals(["group:finance"]))
        figures["api_key_us"] = per_call_us(lambda: store.verify(secret), n)
    rsa_key, ec_key = rsa.generate_private_key(65537, 2048), ec.generate_private_key(ec.SECP256R1())
    signers: dict[str, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey] = {"RS256": rsa_key, "ES256": ec_key}
    jwks = [
        jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key(), as_dict=True) | {"kid": "RS256", "alg": "RS256"},
        jwt.algorithms.ECAlgorithm.to_jwk(ec_key.public_key(), as_dict=True) | {"kid": "ES256", "alg": "ES256"},
    ]
    public = {"keys": jwks}
    with jwks_server(public) as issuer:
        verifier = BearerVerifier(AuthSettings(oidc_issuer=issuer, oidc_audience="urn:bench"))  # type: ignore[call-arg]
        loop = asyncio.new_event_loop()
        try:
            for alg, key in signers.items():
                now = int(time.time())
                claims = {"iss": issuer, "aud": "urn:bench", "exp": now + 600, "email": "a@b.example"}
                token = jwt.encode(claims, key, algorithm=alg, headers={"kid": alg})

                def check(token: str = token) -> object:
                    return loop.run_until_complete(verifier.verify(token))

                figures[f"bearer_{alg.lower()}_us"] = per_call_us(check, n)
        finally:
            loop.close()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--n", type=int, default=2000, help="calls per figure")
    print(json.dumps(measure(parser.parse_args().n), indent=2))


if __name__ == "__main__":
    main()

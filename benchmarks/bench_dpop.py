"""DPoP in kernels: the time to make a proof, and a GET with DPoP against one with a bearer token.

Three ways, in one run, against one local API on loopback (it answers 200 and checks
nothing, so the figures are the client's cost):
  bearer        Authorization: Bearer, as a cached token is sent today;
  dpop-kernel   the kernel holds the key and signs a proof per request (what is built);
  dpop-server   the kernel asks a local server for each proof over HTTP (the alternative).
Ratios are against bearer in the same run. Run: python -m benchmarks.bench_dpop [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import requests

from jupyter_nevis_auth.dpop import DPoPKey
from jupyter_nevis_auth.kernel.dpop_auth import auth_headers
from jupyter_nevis_auth.kernel.token import Token


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out as two writes: without this, delayed ACKs add 40 ms to each.
    disable_nagle_algorithm = True

    def _answer(self, body: bytes) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


def serve(handler: type[BaseHTTPRequestHandler]) -> tuple[ThreadingHTTPServer, str]:
    """A loopback server in a daemon thread, and its URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd, f"http://127.0.0.1:{httpd.server_address[1]}"


def percentile(values: list[float], q: float) -> float:
    """The q-quantile of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def one_run(n: int) -> dict[str, dict[str, float]]:
    """p50 and p99 in ms of a proof and of a GET each way."""
    key = DPoPKey.generate()
    token = Token("x" * 800)  # about the size of the test provider's JWT access tokens
    token.dpop = key
    bearer = Token(str(token))

    class Api(_Quiet):
        def do_GET(self) -> None:
            self._answer(b'{"ok": true}')

    class ProofServer(_Quiet):
        def do_GET(self) -> None:
            # What a server-side proof endpoint does: sign with the key it keeps.
            self._answer(key.proof("GET", "http://api/hello", access_token=str(token)).encode())

    api, api_url = serve(Api)
    proofs, proof_url = serve(ProofServer)
    url = f"{api_url}/hello"
    results: dict[str, list[float]] = {"proof": [], "bearer": [], "dpop-kernel": []}
    results["dpop-server"] = []
    with requests.Session() as http, requests.Session() as to_server:
        for _ in range(50):  # connections up, caches warm
            http.get(url, headers=auth_headers(token, "GET", url))
            to_server.get(proof_url)
        for _ in range(n):
            start = time.perf_counter()
            key.proof("GET", url, access_token=str(token))
            results["proof"].append(time.perf_counter() - start)
            for way in ("bearer", "dpop-kernel", "dpop-server"):
                start = time.perf_counter()
                if way == "bearer":
                    headers = auth_headers(bearer, "GET", url)
                elif way == "dpop-kernel":
                    headers = auth_headers(token, "GET", url)
                else:
                    proof = to_server.get(proof_url).text
                    headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
                http.get(url, headers=headers).raise_for_status()
                results[way].append(time.perf_counter() - start)
    api.shutdown()
    proofs.shutdown()
    return {
        way: {"p50": 1000 * statistics.median(v), "p99": 1000 * percentile(v, 0.99)}
        for way, v in results.items()
    }


def main() -> None:
    """Print each run's figures, then the worst and best ratio to bearer at p50."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("-n", type=int, default=2000, help="requests per way and run")
    options = parser.parse_args()
    ratios: dict[str, list[float]] = {"dpop-kernel": [], "dpop-server": []}
    for run in range(1, options.runs + 1):
        figures = one_run(options.n)
        print(f"run {run}:")
        for way, f in figures.items():
            print(f"  {way:12} p50 {f['p50']:.3f} ms  p99 {f['p99']:.3f} ms")
        for way in ratios:
            ratios[way].append(figures[way]["p50"] / figures["bearer"]["p50"])
    for way, values in ratios.items():
        print(f"{way} / bearer at p50: worst {max(values):.2f}x, best {min(values):.2f}x")


if __name__ == "__main__":
    main()

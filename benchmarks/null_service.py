"""The baseline of bench_hub: a process that answers every GET at once with a fixed JSON body.

Behind the same proxy and at the same rate as the service, it shows what the proxy, the
load generator and the machine cost by themselves: the service's figures are read against
it. Run as `python benchmarks/null_service.py PORT BYTES`; it stops on SIGTERM.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys

from tornado import web


class Answer(web.RequestHandler):
    """Any path: the same body, as big as a token answer."""

    def initialize(self, body: bytes) -> None:
        """The body to send."""
        self.body = body

    def get(self, _path: str) -> None:
        """Answer at once."""
        self.set_header("Content-Type", "application/json")
        self.finish(self.body)

    def log_exception(self, *args: object) -> None:
        """Nothing to log."""


async def serve(port: int, size: int) -> None:
    """Listen on 127.0.0.1:`port` until SIGTERM."""
    body = json.dumps({"padding": "x" * max(0, size - 15)}).encode()
    app = web.Application([(r"/(.*)", Answer, {"body": body})], log_function=lambda _h: None)
    server = app.listen(port, "127.0.0.1")
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    server.stop()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]), int(sys.argv[2])))

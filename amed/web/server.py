"""The read-only dashboard: pages, a JSON API and Prometheus metrics over HTTP.

It serves what the state database says and never changes anything: each request opens its
own read-only `StateReader` (under WAL it never blocks the daemon, and readers share
nothing, so the server's threads need no lock). GET and HEAD only. A failing request is a
500 with one short line, logged with its cause; a traceback never reaches the client.
What each path serves is `amed.web.routes`.

Before any route, a request must name an accepted host, and carry the token when one is set
(`/healthz` excepted, for probes): see `amed.web.access`.
"""

from __future__ import annotations

import os
import socket
import socketserver
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from amed import logs
from amed.addresses import is_loopback, parse_address
from amed.web.access import Access, read_token
from amed.web.live import CONTENT_SECURITY_POLICY
from amed.web.plots import NO_LEVELS, Levels
from amed.web.routes import Response, Source, route, text

ALLOWED_METHODS = "GET, HEAD"
SHUTDOWN_POLL_SECONDS = 0.1
"""How often the server's loop looks for `close()`: the longest `close()` waits."""
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    # Inline style, the pages' one script (by its hash) and requests to this server only.
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
}


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    source: Source
    access: Access

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A request that broke outside the handler's own guard (the client hung up while
        we wrote): one log line, no traceback on stderr."""
        logs.get(component="dashboard").warning("dashboard_connection_failed")

    def server_bind(self) -> None:
        """Bind without HTTPServer's reverse DNS lookup of the host (`getfqdn`), which can
        stall start-up for seconds on a machine without a resolver."""
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)


class _Server6(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    server_version = "amed"
    sys_version = ""

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def _not_allowed(self) -> None:
        self._send(
            self._refusal()
            or text(
                405,
                "method not allowed: the dashboard is read-only (GET, HEAD)",
                Allow=ALLOWED_METHODS,
            ),
            with_body=True,
        )

    do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = do_TRACE = do_CONNECT = _not_allowed

    def _refusal(self) -> Response | None:
        """421 for a host the dashboard does not answer to (DNS rebinding), 401 without the
        token; None when the request may be routed."""
        access = self.server.access
        hosts = self.headers.get_all("Host") or []
        if len(hosts) != 1 or not access.host_allowed(hosts[0]):
            return text(421, access.host_refusal())
        if urlsplit(self.path).path != "/healthz" and not access.authorized(
            self.headers.get("Authorization")
        ):
            return text(
                401,
                "unauthorized: send the header 'Authorization: Bearer <token>' with the token "
                "from http.token_file",
                **{"WWW-Authenticate": 'Bearer realm="amed"'},
            )
        return None

    def _answer(self, *, with_body: bool) -> None:
        refusal = self._refusal()
        if refusal is not None:
            self._send(refusal, with_body=with_body)
            return
        try:
            response = route(self.server.source, self.path)
        except Exception as exc:  # noqa: BLE001 — the request's top: log it, answer 500, serve on
            logs.get(component="dashboard").error(
                "dashboard_request_failed", path=self.path, error=f"{type(exc).__name__}: {exc}"
            )
            response = text(500, "internal error: see amed's log")
        self._send(response, with_body=with_body)

    def _send(self, response: Response, *, with_body: bool) -> None:
        self.send_response(response.status)
        for name, value in {**_HEADERS, **(response.headers or {})}.items():
            self.send_header(name, value)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        if with_body:
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        logs.get(component="dashboard").debug("dashboard_request", line=format % args)


@dataclass
class Dashboard:
    """A running dashboard; `close()` stops it and waits for its thread."""

    url: str
    port: int
    _server: _Server
    _thread: threading.Thread

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> Dashboard:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def start_dashboard(
    state_dir: Path,
    address: str,
    *,
    capacity_bytes: int | None,
    storage_url: str,
    allowed_hosts: Iterable[str] = (),
    token_file: Path | None = None,
    env: Mapping[str, str] | None = None,
    levels: Levels = NO_LEVELS,
) -> Dashboard:
    """Serve the dashboard on `address` ("host:port") from a daemon thread.

    Raises ValueError (one line) for an address or allowed host that does not parse,
    ConfigError for a token that cannot be read, and OSError when the address cannot be
    bound. Any address given is served, but one that is not loopback and has no token is
    logged as a warning: the page shows data set names and errors to whoever reaches it.
    `env` (default: the process's) is where systemd's `$CREDENTIALS_DIRECTORY` is looked up.
    `levels`: the eviction watermarks and the warning level, drawn on the storage plot.
    """
    host, port = parse_address(address)
    token = read_token(token_file, os.environ if env is None else env)
    access = Access.for_address(host, allowed_hosts, token)
    log = logs.get(component="dashboard")
    if not is_loopback(host) and token is None:
        log.warning(
            "dashboard_not_loopback",
            address=address,
            hint="anyone on the network who can reach this address can read the dashboard; "
            "set http.token_file to require a token",
        )
    server_class = _Server6 if ":" in host else _Server
    try:
        server = server_class((host, port), _Handler)
    except OSError as exc:
        raise OSError(
            exc.errno, f"cannot serve the dashboard on {address}: {exc.strerror or exc}"
        ) from None
    server.source = Source(state_dir, capacity_bytes, storage_url, levels)
    server.access = access
    bound_port = int(server.server_address[1])
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{bound_port}/"
    thread = threading.Thread(
        target=server.serve_forever,
        kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS},
        name="amed-dashboard",
        daemon=True,
    )
    thread.start()
    log.info(
        "dashboard_started",
        url=url,
        hosts=[*access.names, *(["any IP literal"] if access.any_ip else [])],
        token_required=token is not None,
    )
    return Dashboard(url=url, port=bound_port, _server=server, _thread=thread)

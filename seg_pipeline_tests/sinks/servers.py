"""Real stand-in servers on 127.0.0.1 for the sink tests.

A batch-upsert CRM, a Standard Webhooks receiver and an SMTP server. Each records what a real receiver would see
and can be scripted to misbehave.
"""

import base64
import hashlib
import hmac
import json
import socket
import threading
import time
from collections import Counter, deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from aiosmtpd.controller import Controller

CRM_PATH = "/crm/v3/objects/companies/batch/update"


@dataclass
class Scripted:
    """A response the server gives instead of processing the next request."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None
    delay: float = 0.0  # with status 200: apply the effect, then answer this late
    apply: bool = False


@dataclass
class CrmState:
    token: str
    script: deque[Scripted] = field(default_factory=deque)
    outage: Scripted | None = None  # fault injection: every request gets this (e.g. 503 forever) until cleared
    reject_ids: dict[str, str] = field(default_factory=dict)  # company id -> validation message
    multi_status: bool = False  # True: apply the valid rows and answer 207 naming the rejected ones
    companies: dict[str, dict[str, Any]] = field(default_factory=dict)
    writes: Counter[str] = field(default_factory=Counter)  # applied updates per company id
    effects: Counter[str] = field(default_factory=Counter)  # applied requests per idempotency key
    replays: Counter[str] = field(default_factory=Counter)
    requests: list[dict[str, Any]] = field(default_factory=list)
    cached: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


class _Quiet(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        return None

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send_response(status)
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)


def _crm_handler(state: CrmState) -> type[BaseHTTPRequestHandler]:
    class Handler(_Quiet):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            key = self.headers.get("Idempotency-Key", "")
            auth_ok = self.headers.get("Authorization") == f"Bearer {state.token}"
            with state.lock:
                state.requests.append({"key": key, "auth_ok": auth_ok, "path": self.path, "body": raw})
                scripted = state.script.popleft() if state.script else state.outage
            if self.path != CRM_PATH:
                self._reply(404, b'{"message":"not found"}')
                return
            if not auth_ok:
                self._reply(401, b'{"status":"error","message":"authentication credentials not found"}')
                return
            if scripted is not None and not scripted.apply:
                body = scripted.body if isinstance(scripted.body, bytes) else json.dumps(scripted.body or {}).encode()
                self._reply(scripted.status, body, scripted.headers)
                return
            status, body = self._process(key, json.loads(raw))
            if scripted is not None and scripted.delay:
                time.sleep(scripted.delay)
            self._reply(status, body)

        def _process(self, key: str, payload: dict[str, Any]) -> tuple[int, bytes]:
            with state.lock:
                if key and key in state.cached:
                    state.replays[key] += 1
                    return state.cached[key]
                inputs = payload.get("inputs", [])
                bad = [i["id"] for i in inputs if i["id"] in state.reject_ids]
                errors = [{"message": state.reject_ids[b], "context": {"ids": [b]}} for b in bad]
                if bad and state.multi_status:
                    good = [i for i in inputs if i["id"] not in state.reject_ids]
                    for item in good:
                        state.companies.setdefault(item["id"], {}).update(item["properties"])
                        state.writes[item["id"]] += 1
                    state.effects[key] += 1
                    resp = (207, json.dumps({"status": "COMPLETE", "results": [{"id": i["id"]} for i in good],
                                             "errors": errors}).encode())
                elif bad:
                    resp = (400, json.dumps({
                        "status": "error", "message": "Property values were not valid",
                        "errors": errors,
                    }).encode())
                else:
                    for item in inputs:
                        state.companies.setdefault(item["id"], {}).update(item["properties"])
                        state.writes[item["id"]] += 1
                    state.effects[key] += 1
                    resp = (200, json.dumps({"status": "COMPLETE",
                                             "results": [{"id": i["id"]} for i in inputs]}).encode())
                if key:
                    state.cached[key] = resp
                return resp

    return Handler


@dataclass
class WebhookState:
    secret: str  # whsec_<base64>
    script: deque[Scripted] = field(default_factory=deque)
    deliveries: Counter[str] = field(default_factory=Counter)  # accepted requests per webhook-id
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)  # first body per webhook-id
    rejected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def verify(self, msg_id: str, ts: str, body: bytes, signature: str) -> bool:
        key = base64.b64decode(self.secret.removeprefix("whsec_"))
        expected = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest())
        fresh = ts.isdigit() and abs(time.time() - int(ts)) < 300
        sigs = [s.split(",", 1)[1] for s in signature.split() if s.startswith("v1,")]
        return fresh and any(hmac.compare_digest(s.encode(), expected) for s in sigs)


def _webhook_handler(state: WebhookState) -> type[BaseHTTPRequestHandler]:
    class Handler(_Quiet):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            msg_id = self.headers.get("webhook-id", "")
            ok = state.verify(msg_id, self.headers.get("webhook-timestamp", ""), raw,
                              self.headers.get("webhook-signature", ""))
            with state.lock:
                scripted = state.script.popleft() if state.script else None
                if not ok:
                    state.rejected.append(msg_id)
            if not ok:
                self._reply(401, b'{"error":"invalid signature"}')
                return
            if scripted is not None:
                self._reply(scripted.status, json.dumps(scripted.body or {}).encode(), scripted.headers)
                return
            with state.lock:
                state.deliveries[msg_id] += 1
                state.messages.setdefault(msg_id, json.loads(raw))
            self._reply(200, b"ok")

    return Handler


@contextmanager
def serve(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run a threading HTTP server on 127.0.0.1:<free port>; yield its base URL; stop it afterwards."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def crm_server(token: str) -> Iterator[tuple[str, CrmState]]:
    state = CrmState(token=token)
    with serve(_crm_handler(state)) as url:
        yield url, state


@contextmanager
def webhook_server(secret: str) -> Iterator[tuple[str, WebhookState]]:
    state = WebhookState(secret=secret)
    with serve(_webhook_handler(state)) as url:
        yield url + "/hooks/seg", state


class SmtpSink:
    """aiosmtpd handler: keeps every accepted message; scripted SMTP replies for the next DATA commands."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []
        self.script: deque[str] = deque()
        self.outage: str | None = None  # fault injection: every DATA gets this reply (e.g. 451) until cleared

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.script:
            return self.script.popleft()
        if self.outage:
            return self.outage
        self.messages.append({"from": envelope.mail_from, "to": list(envelope.rcpt_tos),
                              "content": envelope.content.decode("utf-8", errors="replace")})
        return "250 OK"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def smtp_server(**smtp_kwargs: Any) -> Iterator[tuple[str, int, SmtpSink]]:
    sink = SmtpSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port, **smtp_kwargs)
    controller.start()
    try:
        yield "127.0.0.1", port, sink
    finally:
        controller.stop()

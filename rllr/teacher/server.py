"""`rllr teacher serve`: an OpenAI-compatible HTTP server in front of a local model.

    server = TeacherServer(LocalBackend("smollm2-135m-instruct"), port=0)  # port 0: any free port
    server.start(); server.url  # "http://127.0.0.1:<port>/v1"; server.stop()

Endpoints: `POST /v1/chat/completions` (messages, temperature, top_p, max_tokens, n, seed)
and `GET /v1/models`. Request threads put their request on a queue; one worker thread
takes what has arrived within `batch_wait_s`, groups it by sampling params and runs each
group as one batched `generate`. Batching changes left padding, so a sampled answer can
depend on which requests shared its batch; greedy answers (temperature 0) do not.
Not implemented: streaming, tools, logprobs, stop sequences.
"""

from __future__ import annotations

import json
import logging
import queue
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rllr.teacher.client import ChatRequest, LocalBackend

log = logging.getLogger(__name__)


@dataclass
class _Job:
    request: ChatRequest
    done: threading.Event = field(default_factory=threading.Event)
    answer: tuple[list[str], int, int] | None = None
    error: str | None = None


def parse_request(body: bytes) -> ChatRequest:
    """A ChatRequest from a chat-completions JSON body; ValueError with a reason if invalid."""
    try:
        data = json.loads(body)
    except json.JSONDecodeError:
        raise ValueError("body is not JSON") from None
    messages = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(messages, list) or not messages:
        raise ValueError("'messages' must be a non-empty list")
    for m in messages:
        if not (isinstance(m, dict) and isinstance(m.get("role"), str)
                and isinstance(m.get("content"), str)):
            raise ValueError("each message needs string 'role' and 'content'")  # noqa: TRY004 (reported as HTTP 400)
    try:
        req = ChatRequest(
            messages=tuple({"role": m["role"], "content": m["content"]} for m in messages),
            temperature=float(data.get("temperature", 1.0) or 0.0),
            top_p=float(data.get("top_p", 1.0) or 1.0),
            max_tokens=int(data.get("max_tokens") or 256),
            n=int(data.get("n") or 1),
            seed=int(data.get("seed") or 0),
        )
    except (TypeError, ValueError):
        raise ValueError("temperature/top_p must be numbers, max_tokens/n/seed integers") from None
    if not (0 <= req.temperature <= 2 and 0 < req.top_p <= 1 and 1 <= req.n <= 16
            and 1 <= req.max_tokens <= 4096):
        raise ValueError("out of range: temperature [0,2], top_p (0,1], n [1,16], max_tokens [1,4096]")
    return req


class _QuietHTTPServer(ThreadingHTTPServer):
    """A client that timed out and hung up is routine for a slow teacher: one log line, no traceback."""

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, (BrokenPipeError, ConnectionResetError)):
            log.info("teacher server: client %s hung up before its answer was sent", client_address[0])
            return
        super().handle_error(request, client_address)


class TeacherServer:
    """ThreadingHTTPServer + one batching worker over a `LocalBackend`."""

    def __init__(self, backend: LocalBackend, *, host: str = "127.0.0.1", port: int = 0,
                 max_batch: int = 8, batch_wait_s: float = 0.02) -> None:
        self.backend = backend
        self.max_batch = max_batch
        self.batch_wait_s = batch_wait_s
        self.jobs: queue.Queue[_Job] = queue.Queue()
        self.httpd = _QuietHTTPServer((host, port), self._handler())
        self.httpd.daemon_threads = True
        self._threads: list[threading.Thread] = []
        self._stop = threading.Event()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> TeacherServer:
        for target in (self.httpd.serve_forever, self._work):
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self._threads.append(t)
        return self

    def serve_forever(self) -> None:
        self.start()
        try:
            while True:
                time.sleep(3600)
        finally:
            self.stop()

    def stop(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    # --- batching worker ----------------------------------------------------------------

    def _work(self) -> None:
        while not self._stop.is_set():
            try:
                first = self.jobs.get(timeout=0.2)
            except queue.Empty:
                continue
            batch = [first]
            deadline = time.monotonic() + self.batch_wait_s
            while len(batch) < self.max_batch:
                try:
                    batch.append(self.jobs.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            groups: dict[tuple[Any, ...], list[_Job]] = {}
            for job in batch:
                groups.setdefault(tuple(sorted(job.request.params().items())), []).append(job)
            for jobs in groups.values():
                try:
                    answers = self.backend.complete_batch([j.request for j in jobs])
                    for j, a in zip(jobs, answers):
                        j.answer = a
                except Exception as e:  # report to the clients, keep serving
                    log.exception("generation failed")
                    for j in jobs:
                        j.error = f"generation failed: {type(e).__name__}"
                for j in jobs:
                    j.done.set()

    # --- HTTP -----------------------------------------------------------------------------

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, fmt: str, *args: Any) -> None:
                log.debug("%s " + fmt, self.address_string(), *args)

            def _json(self, code: int, obj: Any) -> None:
                body = json.dumps(obj, ensure_ascii=False).encode("utf-8")
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _error(self, code: int, message: str) -> None:
                self._json(code, {"error": {"message": message, "type": "invalid_request_error"}})

            def do_GET(self) -> None:
                if self.path.rstrip("/") in ("/v1/models", "/models"):
                    self._json(200, {"object": "list", "data": [
                        {"id": server.backend.model, "object": "model", "owned_by": "rllr"}]})
                else:
                    self._error(404, f"no route {self.path}")

            def do_POST(self) -> None:
                if self.path.rstrip("/") not in ("/v1/chat/completions", "/chat/completions"):
                    return self._error(404, f"no route {self.path}")
                length = int(self.headers.get("Content-Length") or 0)
                try:
                    request = parse_request(self.rfile.read(length))
                except ValueError as e:
                    return self._error(400, str(e))
                job = _Job(request)
                server.jobs.put(job)
                job.done.wait()
                if job.answer is None:
                    return self._error(500, job.error or "generation failed")
                texts, pt, ct = job.answer
                self._json(200, {
                    "id": f"chatcmpl-{uuid.uuid4().hex[:12]}", "object": "chat.completion",
                    "created": int(time.time()), "model": server.backend.model,
                    "choices": [{"index": i, "message": {"role": "assistant", "content": t},
                                 "finish_reason": "stop"} for i, t in enumerate(texts)],
                    "usage": {"prompt_tokens": pt, "completion_tokens": ct,
                              "total_tokens": pt + ct},
                })

        return Handler

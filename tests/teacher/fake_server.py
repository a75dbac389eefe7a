"""A fake OpenAI-compatible teacher on loopback with canned answers and injected faults.

    with FakeServer(faults=True) as srv:     # srv.url == "http://127.0.0.1:<port>/v1"
        ...

Faults are chosen from a hash of the request's last user message, so they are the same
in every run: a request may first get a 429, a 500, a stall past the client timeout,
truncated JSON or empty choices, and then succeed; messages containing "POISON" always
get a 500 (the job must list them as failed). Answers are canned: a rationale prompt gets
a rationale that names its label, a ranking prompt a ranking, a judge prompt a verdict.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

FAULTS = ("ok", "429", "500", "timeout", "truncated", "empty_choices", "ok")


def canned_answer(prompt: str, i: int = 0) -> str:
    """A deterministic answer that depends on the kind of prompt."""
    m = re.search(r"rationale for the answer \u201c(.+?)\u201d", prompt)
    if m:
        label = m.group(1)
        if "REFUSE" in prompt:
            return "I'm sorry, but I can't provide a rationale for that answer."
        if "EMPTY" in prompt:
            return ""
        return f"The text clearly supports the label {label}: its wording points to {label}."
    if "please rank the answers" in prompt:
        if "BADRANK" in prompt:
            return "They are all fine.\n\nRanking: 1>2>2>4>5"
        return "Answer 1 is the most accurate.\n\nRanking: 1>2=3>4>5"
    if "choose which one is better" in prompt:
        a1 = prompt.split("[Answer 1]", 1)[1].split("[Answer 2]", 1)[0]
        return "Answer 1 is better. It is clearer." if "GOOD" in a1 else "Answer 2 is better."
    if "Correctness:" in prompt:
        return "Correctness: 4\nCoherence: 5\nThe answer is right."
    return f"answer {i} to: {prompt[:40]}"


class FakeServer:
    def __init__(self, *, faults: bool = False, stall_s: float = 1.5, delay_s: float = 0.0,
                 answer: Callable[..., str] = canned_answer,
                 poison: Callable[[str], bool] = lambda p: "POISON" in p,
                 answer_sees_request: bool = False) -> None:
        self.faults = faults
        self.delay_s = delay_s
        self.poison = poison
        self.stall_s = stall_s
        self.answer = answer
        self.answer_sees_request = answer_sees_request  # answer(prompt, i, request body)
        self.requests: list[dict[str, Any]] = []  # bodies of the requests that reached the answer step
        self.attempts: Counter[str] = Counter()
        self.served: Counter[str] = Counter()  # successful answers per request
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> FakeServer:  # noqa: PYI034
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def plan(self, prompt: str) -> list[str]:
        """Faults for successive attempts at this prompt; after the list: ok."""
        if self.poison(prompt):
            return ["500"] * 100
        if not self.faults:
            return []
        h = int(hashlib.sha256(prompt.encode()).hexdigest(), 16)
        first = FAULTS[h % len(FAULTS)]
        second = FAULTS[(h // 7) % len(FAULTS)] if h % 3 == 0 else "ok"
        return [f for f in (first, second) if f != "ok"]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _send(self, code: int, body: bytes) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._send(200, json.dumps({"object": "list", "data": [{"id": "fake"}]}).encode())

            def do_POST(self) -> None:
                req = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = req["messages"][-1]["content"]
                with server.lock:
                    attempt = server.attempts[prompt]
                    server.attempts[prompt] += 1
                plan = server.plan(prompt)
                time.sleep(server.delay_s)
                fault = plan[attempt] if attempt < len(plan) else "ok"
                if fault == "429":
                    return self._send(429, b'{"error": "rate limited"}')
                if fault == "500":
                    return self._send(500, b'{"error": "boom"}')
                if fault == "timeout":
                    time.sleep(server.stall_s)  # the client has given up by now
                    try:
                        return self._send(503, b"{}")
                    except OSError:
                        return None
                n = int(req.get("n", 1))
                extra = (req,) if server.answer_sees_request else ()
                with server.lock:
                    server.requests.append(req)
                choices = [{"index": i, "message": {"role": "assistant",
                                                    "content": server.answer(prompt, i, *extra)},
                            "finish_reason": "stop"} for i in range(n)]
                if fault == "empty_choices":
                    choices = []
                body = json.dumps({"object": "chat.completion", "model": req.get("model"),
                                   "choices": choices,
                                   "usage": {"prompt_tokens": len(prompt.split()),
                                             "completion_tokens": 7 * n}}).encode()
                if fault == "truncated":
                    return self._send(200, body[: len(body) // 2])
                if fault == "ok":
                    with server.lock:
                        server.served[prompt] += 1
                self._send(200, body)

        return Handler

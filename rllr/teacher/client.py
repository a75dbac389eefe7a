"""One teacher interface, two backends: an OpenAI-compatible HTTP endpoint or a local HF model.

    teacher = Teacher(HTTPBackend("http://127.0.0.1:8000/v1", "smollm2-135m-instruct"),
                      cache=ResponseCache("runs/cache"), concurrency=4)
    teacher.preflight()                              # fails fast: one-line TeacherError naming the URL
    results = teacher.chat([ChatRequest(user("Hi"), max_tokens=32)])
    results[0].texts, results[0].error; teacher.stats.as_dict()

`Teacher.chat` never raises for a single bad request: each result is either ok (texts) or
failed with a reason, so a job can finish and list its failures. HTTP requests run on a
thread pool (`concurrency`) with timeouts and retries (exponential backoff with full
jitter; `Retry-After` honoured) on 429, 5xx, timeouts, connection errors and malformed
answers (bad JSON, no choices, no message). The local backend batches requests that share
sampling params through `rllr.eval.generate`. The API key is read from the environment
variable *named* by `api_key_env`; its value is never logged or stored.
"""

from __future__ import annotations

import json
import logging
import os
import random
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from rllr.errors import TeacherError
from rllr.teacher.cache import ResponseCache, request_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChatRequest:
    """One chat-completions request. temperature 0 means greedy decoding."""

    messages: tuple[Mapping[str, str], ...]
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 256
    n: int = 1
    seed: int = 0

    def params(self) -> dict[str, Any]:
        return {"temperature": self.temperature, "top_p": self.top_p,
                "max_tokens": self.max_tokens, "n": self.n, "seed": self.seed}


@dataclass
class ChatResult:
    """`texts` has `n` answers when ok; `error` says why a request failed."""

    texts: list[str] = field(default_factory=list)
    error: str | None = None
    cached: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def text(self) -> str:
        return self.texts[0] if self.texts else ""


@dataclass
class TeacherStats:
    requests: int = 0
    """Requests sent to the backend (cache misses), counting each retry once."""
    cache_hits: int = 0
    retries: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)

    def line(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.as_dict().items())


class RetryableError(Exception):
    """A failure worth another try (429, 5xx, timeout, malformed answer)."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


class Backend(Protocol):
    model: str

    def describe(self) -> str: ...


# --- HTTP backend ---------------------------------------------------------------------------


def _parse_completion(body: bytes, n: int) -> tuple[list[str], int, int]:
    """Texts and token counts of an OpenAI chat-completions answer; RetryableError if malformed."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise RetryableError("malformed response (invalid JSON)") from None
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices:
        raise RetryableError("malformed response (no choices)")
    texts: list[str] = []
    for choice in sorted(choices, key=lambda c: c.get("index", 0) if isinstance(c, dict) else 0):
        msg = choice.get("message") if isinstance(choice, dict) else None
        content = msg.get("content") if isinstance(msg, dict) else None
        if not isinstance(content, str):
            raise RetryableError("malformed response (choice without message content)")
        texts.append(content)
    if len(texts) < n:
        raise RetryableError(f"malformed response ({len(texts)} choices, expected {n})")
    usage = data.get("usage") or {}
    return texts[:n], int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)


class HTTPBackend:
    """An OpenAI-compatible `/v1/chat/completions` endpoint."""

    def __init__(self, base_url: str, model: str, *, api_key_env: str | None = None,
                 timeout: float = 120.0) -> None:
        self.base_url = base_url.rstrip("/")
        if not self.base_url.endswith("/v1"):
            self.base_url += "/v1"
        self.model = model
        self.api_key_env = api_key_env
        self.timeout = timeout

    def describe(self) -> str:
        return self.base_url

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise TeacherError(f"{self.base_url}: API key variable ${self.api_key_env} is not set")
            headers["Authorization"] = f"Bearer {key}"
        return headers

    def preflight(self, timeout: float = 5.0) -> list[str]:
        """GET /models: the served model ids. Unreachable or refusing -> one-line TeacherError."""
        url = f"{self.base_url}/models"
        req = urllib.request.Request(url, headers=self._headers())
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                data = json.loads(resp.read())
        except urllib.error.HTTPError as e:
            raise TeacherError(f"{url}: HTTP {e.code} on preflight") from None
        except (urllib.error.URLError, OSError) as e:
            reason = getattr(e, "reason", e)
            raise TeacherError(f"{url}: teacher unreachable ({reason})") from None
        except json.JSONDecodeError:
            raise TeacherError(f"{url}: preflight answer is not JSON") from None
        return [m.get("id", "") for m in data.get("data", []) if isinstance(m, dict)]

    def complete(self, request: ChatRequest) -> tuple[list[str], int, int]:
        """One POST; returns (texts, prompt_tokens, completion_tokens) or raises."""
        url = f"{self.base_url}/chat/completions"
        payload = {"model": self.model, "messages": [dict(m) for m in request.messages],
                   **request.params()}
        req = urllib.request.Request(url, data=json.dumps(payload).encode("utf-8"),
                                     headers=self._headers(), method="POST")
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                body = resp.read()
        except urllib.error.HTTPError as e:
            if e.code == 429 or e.code >= 500:
                after = e.headers.get("Retry-After") if e.headers else None
                raise RetryableError(f"HTTP {e.code}", _float_or_none(after)) from None
            raise TeacherError(f"{url}: HTTP {e.code}") from None  # 4xx: retrying will not help
        except TimeoutError:
            raise RetryableError("timeout") from None
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            raise RetryableError(f"connection error ({getattr(e, 'reason', e)})") from None
        return _parse_completion(body, request.n)


def _float_or_none(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


# --- local backend --------------------------------------------------------------------------


class LocalBackend:
    """A Hugging Face causal LM run in-process; requests with equal params share batches."""

    def __init__(self, model: str, *, batch_size: int = 8, dtype: str = "float32") -> None:
        from rllr.models.load import load_causal_lm, load_tokenizer

        self.model = model
        self.batch_size = batch_size
        self.tokenizer = load_tokenizer(model)
        self.lm = load_causal_lm(model, dtype=dtype)  # type: ignore[arg-type]
        self._lock = threading.Lock()  # one generate at a time (the server shares a backend)

    def describe(self) -> str:
        return f"local:{self.model}"

    def complete_batch(self, requests: Sequence[ChatRequest]) -> list[tuple[list[str], int, int]]:
        """Answers for requests that share sampling params (one `generate` call)."""
        from rllr.eval.generate import generate
        from rllr.models.chat import render_prompt
        from rllr.tasks.base import Prompt

        first = requests[0]
        texts = [render_prompt(self.tokenizer, Prompt(tuple(r.messages))) for r in requests]
        sample = first.temperature > 0
        with self._lock:
            res = generate(
                self.lm, self.tokenizer, texts, max_new_tokens=first.max_tokens, do_sample=sample,
                temperature=first.temperature if sample else 1.0, top_p=first.top_p,
                num_return_sequences=first.n if sample else 1, batch_size=self.batch_size,
                seed=first.seed, progress=False,
            )
        out = []
        for i, prompt in enumerate(texts):
            answers = res.texts[i] if sample else res.texts[i] * first.n
            counts = res.num_tokens[i] if sample else res.num_tokens[i] * first.n
            n_prompt = len(self.tokenizer(prompt, add_special_tokens=False)["input_ids"])
            out.append(([a.strip() for a in answers], n_prompt, sum(counts)))
        return out


# --- the teacher ----------------------------------------------------------------------------


class Teacher:
    """`chat(requests) -> results` over a backend, with a cache, retries and counters."""

    def __init__(self, backend: HTTPBackend | LocalBackend, *, cache: ResponseCache | None = None,
                 concurrency: int = 4, max_retries: int = 4, backoff_base: float = 0.5,
                 backoff_max: float = 20.0, seed: int = 0) -> None:
        self.backend = backend
        self.cache = cache
        self.concurrency = concurrency
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.stats = TeacherStats()
        self._rng = random.Random(seed)  # jitter only; never affects answers
        self._lock = threading.Lock()

    @property
    def model(self) -> str:
        return self.backend.model

    def preflight(self) -> None:
        """Cheap reachability check before a big job (HTTP: GET /models)."""
        if isinstance(self.backend, HTTPBackend):
            self.backend.preflight()

    def _count(self, **deltas: int) -> None:
        with self._lock:
            for k, v in deltas.items():
                setattr(self.stats, k, getattr(self.stats, k) + v)

    def _key(self, r: ChatRequest) -> str:
        return request_key(self.model, r.messages, **r.params())

    def chat(self, requests: Sequence[ChatRequest]) -> list[ChatResult]:
        """One result per request, in order; cached answers cost nothing."""
        results: list[ChatResult | None] = [None] * len(requests)
        todo: list[int] = []
        for i, r in enumerate(requests):
            hit = self.cache.get(self._key(r)) if self.cache is not None else None
            if hit is not None:
                results[i] = ChatResult(list(hit["texts"]), cached=True)
                self._count(cache_hits=1)
            else:
                todo.append(i)
        if isinstance(self.backend, LocalBackend):
            self._chat_local(requests, todo, results)
        elif todo:
            with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
                for i, res in zip(todo, pool.map(lambda j: self._one_http(requests[j]), todo)):
                    results[i] = res
        out = [r if r is not None else ChatResult(error="not run") for r in results]
        return out

    def _finish(self, request: ChatRequest, texts: list[str], pt: int, ct: int) -> ChatResult:
        self._count(prompt_tokens=pt, completion_tokens=ct)
        if not any(t.strip() for t in texts):
            self._count(failures=1)
            return ChatResult(texts, error="empty answer", prompt_tokens=pt, completion_tokens=ct)
        if self.cache is not None:
            self.cache.put(self._key(request), {"texts": texts, "prompt_tokens": pt,
                                                "completion_tokens": ct})
        return ChatResult(texts, prompt_tokens=pt, completion_tokens=ct)

    def _one_http(self, request: ChatRequest) -> ChatResult:
        assert isinstance(self.backend, HTTPBackend)
        reason = "no attempt"
        for attempt in range(self.max_retries + 1):
            if attempt:
                self._count(retries=1)
            self._count(requests=1)
            try:
                texts, pt, ct = self.backend.complete(request)
                return self._finish(request, texts, pt, ct)
            except RetryableError as e:
                reason = str(e)
                if attempt < self.max_retries:
                    time.sleep(self._delay(attempt, e.retry_after))
            except TeacherError as e:
                reason = str(e)
                break
        self._count(failures=1)
        log.debug("teacher request failed: %s", reason)
        return ChatResult(error=f"{reason} after {attempt + 1} attempt(s)")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        cap = min(self.backoff_max, self.backoff_base * 2 ** attempt)
        with self._lock:
            delay = self._rng.uniform(0, cap)  # full jitter (AWS architecture blog, 2015)
        return max(delay, min(retry_after or 0.0, self.backoff_max))

    def _chat_local(self, requests: Sequence[ChatRequest], todo: list[int],
                    results: list[ChatResult | None]) -> None:
        assert isinstance(self.backend, LocalBackend)
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i in todo:
            groups.setdefault(tuple(sorted(requests[i].params().items())), []).append(i)
        for idxs in groups.values():
            self._count(requests=len(idxs))
            answers = self.backend.complete_batch([requests[i] for i in idxs])
            for i, (texts, pt, ct) in zip(idxs, answers):
                results[i] = self._finish(requests[i], texts, pt, ct)


def make_teacher(*, url: str | None = None, local: str | None = None, model: str | None = None,
                 api_key_env: str | None = None, cache_dir: str | None = None,
                 concurrency: int = 4, timeout: float = 120.0, max_retries: int = 4,
                 backoff_base: float = 0.5, batch_size: int = 8) -> Teacher:
    """A Teacher for `--teacher-url URL` (with `model`, default: the server's first model) or
    `--teacher-local MODEL`; an HTTP teacher is preflighted here, so a dead URL fails fast."""
    if (url is None) == (local is None):
        raise TeacherError("give exactly one of --teacher-url or --teacher-local")
    cache = ResponseCache(cache_dir) if cache_dir else None
    if url is not None:
        backend = HTTPBackend(url, model or "", api_key_env=api_key_env, timeout=timeout)
        served = backend.preflight()
        if not backend.model:
            if not served:
                raise TeacherError(f"{backend.base_url}/models: no model served; pass --teacher-model")
            backend.model = served[0]
        return Teacher(backend, cache=cache, concurrency=concurrency, max_retries=max_retries,
                       backoff_base=backoff_base)
    assert local is not None
    return Teacher(LocalBackend(local, batch_size=batch_size), cache=cache)

"""Teacher client against the fake loopback server: retries, faults, cache, fail-fast."""

from __future__ import annotations

import socket
import time

import pytest

from rllr.errors import TeacherError
from rllr.teacher.cache import ResponseCache, request_key
from rllr.teacher.client import (
    ChatRequest,
    HTTPBackend,
    RetryableError,
    Teacher,
    _parse_completion,
    make_teacher,
)
from rllr.teacher.prompts import user
from tests.teacher.fake_server import FakeServer


def _teacher(url: str, tmp_path=None, **kw) -> Teacher:
    backend = HTTPBackend(url, "fake", timeout=0.5)
    cache = ResponseCache(tmp_path / "cache") if tmp_path is not None else None
    return Teacher(backend, cache=cache, concurrency=8, max_retries=4, backoff_base=0.01, **kw)


def test_faults_retried_and_poison_listed(tmp_path):
    prompts = [f"question {i}" for i in range(40)] + ["POISON one"]
    with FakeServer(faults=True, stall_s=1.0) as srv:
        teacher = _teacher(srv.url, tmp_path)
        results = teacher.chat([ChatRequest(user(p)) for p in prompts])
    assert [r.ok for r in results[:40]] == [True] * 40
    assert all(r.text.startswith("answer 0 to: question") for r in results[:40])
    assert not results[40].ok and "HTTP 500 after 5 attempt(s)" in results[40].error
    assert sum(len(srv.plan(p)) for p in prompts[:40]) > 10  # the faults really were injected
    s = teacher.stats
    assert s.failures == 1 and s.retries >= 10 and s.cache_hits == 0
    assert s.prompt_tokens > 0 and s.completion_tokens == 7 * 40
    assert all(srv.served[p] == 1 for p in prompts[:40])  # exactly one good answer each


def test_cache_makes_rerun_free(tmp_path):
    reqs = [ChatRequest(user(f"q{i}"), n=2, temperature=0.7) for i in range(5)]
    with FakeServer() as srv:
        first = _teacher(srv.url, tmp_path).chat(reqs)
        again = _teacher(srv.url, tmp_path)
        second = again.chat(reqs)
        assert sum(srv.attempts.values()) == 5
    assert [r.texts for r in first] == [r.texts for r in second]
    assert again.stats.cache_hits == 5 and again.stats.requests == 0
    assert len(first[0].texts) == 2


def test_cache_survives_torn_tail(tmp_path):
    cache = ResponseCache(tmp_path)
    cache.put("a", {"texts": ["x"]})
    with open(cache.path, "a") as f:
        f.write('{"key": "b", "val')  # killed mid-write
    cache = ResponseCache(tmp_path)
    assert cache.get("a") == {"texts": ["x"]} and cache.get("b") is None
    cache.put("c", {"texts": ["y"]})
    assert ResponseCache(tmp_path).get("c") == {"texts": ["y"]}


def test_request_key_depends_on_everything():
    m = user("hi")
    base = request_key("m", m, temperature=0.0, n=1)
    assert base == request_key("m", m, n=1, temperature=0.0)
    assert base != request_key("m2", m, temperature=0.0, n=1)
    assert base != request_key("m", user("hi!"), temperature=0.0, n=1)
    assert base != request_key("m", m, temperature=0.1, n=1)


@pytest.mark.parametrize("body", [b'{"choices": [', b'{"choices": []}', b'{"choices": [{}]}', b"[]"])
def test_malformed_answers_are_retryable(body):
    with pytest.raises(RetryableError):
        _parse_completion(body, 1)


def test_unreachable_endpoint_fails_fast():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/v1"
    t0 = time.time()
    with pytest.raises(TeacherError) as e:
        make_teacher(url=url)
    assert time.time() - t0 < 5
    msg = str(e.value)
    assert "\n" not in msg and f"127.0.0.1:{port}/v1/models" in msg and "unreachable" in msg


def test_api_key_from_named_env_var_never_stored(tmp_path, monkeypatch):
    monkeypatch.setenv("RLLR_TEST_KEY", "sk-secret-123")
    with FakeServer() as srv:
        teacher = make_teacher(url=srv.url, api_key_env="RLLR_TEST_KEY", cache_dir=str(tmp_path))
        assert teacher.model == "fake"
        teacher.chat([ChatRequest(user("q"))])
    assert "sk-secret" not in (tmp_path / "cache.jsonl").read_text()
    monkeypatch.delenv("RLLR_TEST_KEY")
    with FakeServer() as srv, pytest.raises(TeacherError, match=r"\$RLLR_TEST_KEY is not set"):
        make_teacher(url=srv.url, api_key_env="RLLR_TEST_KEY")


def test_empty_answer_is_a_failure_not_cached(tmp_path):
    with FakeServer() as srv:
        teacher = _teacher(srv.url, tmp_path)
        prompt = "x\n\nPlease give a rationale for the answer \u201cEMPTY\u201d in a confident tone"
        [res] = teacher.chat([ChatRequest(user(prompt))])
    assert res.error == "empty answer" and len(ResponseCache(tmp_path / "cache")) == 0

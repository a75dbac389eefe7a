"""`rllr teacher serve` over loopback: request validation, and the real default model."""

from __future__ import annotations

import json
import urllib.request

import pytest

from rllr.teacher.server import parse_request


def test_parse_request_validates():
    req = parse_request(json.dumps({"messages": [{"role": "user", "content": "hi"}],
                                    "temperature": 0, "n": 2, "max_tokens": 8}).encode())
    assert req.temperature == 0 and req.n == 2 and req.max_tokens == 8
    for bad in (b"nope", b'{"messages": []}', b'{"messages": [{"role": "user"}]}',
                b'{"messages": [{"role": "user", "content": "x"}], "n": 99}'):
        with pytest.raises(ValueError):
            parse_request(bad)


@pytest.mark.slow
def test_real_model_behind_http_server(default_model_path, tmp_path):
    from rllr.data.rationales import build_rationales
    from rllr.tasks.registry import get_task
    from rllr.teacher.cache import ResponseCache
    from rllr.teacher.client import LocalBackend, make_teacher
    from rllr.teacher.server import TeacherServer

    server = TeacherServer(LocalBackend(str(default_model_path), batch_size=4), port=0).start()
    try:
        with urllib.request.urlopen(server.url + "/models", timeout=10) as r:
            assert json.loads(r.read())["data"][0]["id"] == str(default_model_path)
        teacher = make_teacher(url=server.url, cache_dir=str(tmp_path / "cache"), timeout=600)
        task = get_task("sst2")
        out = tmp_path / "rationales.jsonl"
        counts = build_rationales(task, task.load("sft", limit=2), teacher, out, max_tokens=24)
        assert counts.done + counts.failed + counts.filtered == 2
        assert teacher.stats.requests == 4 and teacher.stats.completion_tokens > 0
        assert len(ResponseCache(tmp_path / "cache")) >= 2 * counts.done
    finally:
        server.stop()


class _SlowBackend:
    model = "slow"

    def complete_batch(self, requests):
        import time

        time.sleep(0.3)
        return [(["x" * 200_000], 1, 1) for _ in requests]


def test_client_hanging_up_is_one_log_line_not_a_traceback(capfd, caplog):
    import logging
    import socket
    import time

    from rllr.teacher.server import TeacherServer

    server = TeacherServer(_SlowBackend(), port=0).start()
    try:
        host, port = server.httpd.server_address[:2]
        body = json.dumps({"messages": [{"role": "user", "content": "hi"}]}).encode()
        with caplog.at_level(logging.INFO, logger="rllr.teacher.server"):
            for _ in range(3):  # the first write to a closed socket may still succeed
                s = socket.create_connection((host, port))
                s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                s.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: "
                          + str(len(body)).encode() + b"\r\n\r\n" + body)
                s.close()  # linger 0: RST, so the server's reply fails
            time.sleep(1.5)
    finally:
        server.stop()
    assert "Traceback" not in capfd.readouterr().err
    assert "hung up before its answer was sent" in caplog.text

"""``ponder serve``'s connections and command line (issue #17 items 11, 12): slow clients are cut
off, connections are capped, and ``--port``, the listening address and the new flags fail in one
line. Raw sockets on 127.0.0.1 against a server run with ``ponder serve``'s uvicorn settings; no
model is loaded (the engines are fakes; the command-line tests fail before any engine starts).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import openai
import pytest
import uvicorn
from click.testing import CliRunner

from ponder.cli.main import cli
from ponder.core.errors import InvalidInputError
from ponder.engines.fake import FakeEngine
from ponder.serve import ServeConfig, create_app
from ponder.serve.connections import uvicorn_config

ASK = [{"role": "user", "content": "What is 2 + 2?"}]
ANSWER = "2 plus 2 makes 4. The answer is 4."


def client_for(url: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=url + "/v1", api_key="none", max_retries=0)


def timed_health(url: str) -> float:
    started = time.monotonic()
    assert httpx.get(url + "/health", timeout=30).status_code == 200
    return time.monotonic() - started


@contextmanager
def hardened(engine: Any = None, **options: Any) -> Iterator[str]:
    """A server as ``ponder serve`` runs it (its uvicorn settings); yields its URL."""
    config = ServeConfig(**options)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    app = create_app(engine or FakeEngine([ANSWER]), config)
    server = uvicorn.Server(uvicorn_config(app, config, lifespan="off"))
    thread = threading.Thread(target=server.run, args=([sock],), daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        if thread.is_alive():
            server.force_exit = True
            thread.join(5)
        sock.close()


def connect(url: str, send: bytes = b"") -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    conn = socket.create_connection((host, int(port)), timeout=10)
    if send:
        conn.sendall(send)
    return conn


def read_until_closed(conn: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a 10 s timeout fails the test)."""
    received = b""
    while chunk := conn.recv(4096):
        received += chunk
    conn.close()
    return received


def read_response(conn: socket.socket) -> bytes:
    """One whole response (headers and a Content-Length body) from a kept-alive connection."""
    received = b""
    while b"\r\n\r\n" not in received:
        received += conn.recv(4096)
    head, _, body = received.partition(b"\r\n\r\n")
    length = int(next(line for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:"))[15:])
    while len(body) < length:
        body += conn.recv(4096)
    return head + b"\r\n\r\n" + body


PARTIAL_HEADERS = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
PARTIAL_BODY = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 200\r\n\r\n" + b'{"model": "po'


def test_slow_clients_are_cut_off_while_others_are_served() -> None:
    with hardened(header_timeout=0.5, body_timeout=0.5) as url:
        started = time.monotonic()
        slow = [connect(url) for _ in range(15)]  # connect and say nothing
        slow += [connect(url, PARTIAL_HEADERS) for _ in range(15)]
        slow += [connect(url, PARTIAL_BODY) for _ in range(10)]
        trickle = connect(url)  # a header byte every 0.1 s: an idle timeout would never fire

        def drip() -> float:
            for byte in PARTIAL_HEADERS * 10:
                try:
                    trickle.sendall(bytes([byte]))
                except OSError:
                    return time.monotonic() - started
                time.sleep(0.1)
            return float("inf")

        with ThreadPoolExecutor(1) as pool:
            dripping = pool.submit(drip)
            assert timed_health(url) < 1
            with client_for(url) as client:
                assert client.chat.completions.create(model="ponder", messages=ASK).choices[0].message.content == ANSWER
            replies = [read_until_closed(conn) for conn in slow]
            assert time.monotonic() - started < 4  # all 40 closed after about 0.5 s, not held open
            assert dripping.result() < 4
        assert all(reply.startswith(b"HTTP/1.1 408 ") for reply in replies)
        assert b'"type":"invalid_request_error"' in replies[0].replace(b" ", b"")
        assert timed_health(url) < 1


def test_a_kept_alive_connection_gets_a_new_header_deadline() -> None:
    with hardened(header_timeout=0.5) as url:
        conn = connect(url, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(conn).startswith(b"HTTP/1.1 200 ")
        time.sleep(0.7)  # idle past the header timeout, within keep-alive: no deadline runs while idle
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert read_response(conn).startswith(b"HTTP/1.1 200 ")
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # the next request stalls in its headers
        started = time.monotonic()
        assert read_until_closed(conn).startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - started < 3


def test_connections_past_the_cap_get_a_503() -> None:
    with hardened(max_connections=5, header_timeout=30) as url:
        idle = [connect(url) for _ in range(5)]
        time.sleep(0.2)  # let the server register them
        response = httpx.get(url + "/health", timeout=10)
        assert response.status_code == 503 and response.headers["retry-after"] == "1"
        assert response.json()["error"]["code"] == "too_many_connections"
        for conn in idle:
            conn.close()
        deadline = time.monotonic() + 5
        while httpx.get(url + "/health", timeout=10).status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.05)


def test_idle_connections_past_the_cap_are_answered_and_closed_at_once() -> None:
    """A connection past the cap holds nothing: it gets the 503 and is closed within the short
    grace, not after the 30 s header deadline (idle sockets cannot pile up file descriptors)."""
    with hardened(max_connections=2, header_timeout=30) as url:
        kept = [connect(url) for _ in range(2)]
        time.sleep(0.2)
        extra = [connect(url) for _ in range(20)]
        started = time.monotonic()
        answers = [read_until_closed(conn) for conn in extra]  # returns only once the server closed each
        assert time.monotonic() - started < 10  # a hang guard: the grace is 1 s, the deadline 30 s
        assert all(answer.startswith(b"HTTP/1.1 503 ") for answer in answers)
        assert all(b"too_many_connections" in answer for answer in answers)
        for conn in kept:
            conn.close()


# -- item 12 and the flags: the command line -----------------------------------------------------

REMOTE = ["--engine", "openai", "--base-url", "http://127.0.0.1:9", "--model", "m"]  # nothing loads


def run_serve(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["serve", *args, *REMOTE])
    return result.exit_code, result.stderr


@pytest.mark.parametrize("port", ["99999", "-1", "65536"])
def test_a_port_out_of_range_is_a_usage_error(port: str) -> None:
    code, err = run_serve("--port", port)
    assert code == 2 and "Traceback" not in err
    assert "--port" in err and "0<=x<=65535" in err


def assert_one_line_error(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), err
    for needle in needles:
        assert needle in lines[0]


def test_a_port_in_use_is_one_error_line() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, err = run_serve("--port", str(port))
    assert code == 1
    assert_one_line_error(err, f"cannot listen on 127.0.0.1:{port}", "in use")


@pytest.mark.parametrize(
    ("host", "named"),
    [("203.0.113.7", "cannot listen on 203.0.113.7:"), ("no-such-host.invalid", "'no-such-host.invalid'")],
)
def test_a_bad_host_is_one_error_line(host: str, named: str) -> None:
    code, err = run_serve("--host", host, "--port", "0")
    assert code == 1
    assert_one_line_error(err, named)


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--header-timeout", "nan"], "header_timeout"),
        (["--body-timeout", "inf"], "body_timeout"),
        (["--request-timeout", "nan"], "request_timeout"),
    ],
)
def test_timeouts_that_are_not_finite_are_one_error_line(args: list[str], named: str) -> None:
    code, err = run_serve(*args)
    assert code == 1
    assert_one_line_error(err, named, "seconds > 0")


@pytest.mark.parametrize("args", [["--header-timeout", "0"], ["--max-connections", "0"], ["--code-execution", "x"]])
def test_bad_flag_values_are_usage_errors(args: list[str]) -> None:
    code, err = run_serve(*args)
    assert code == 2 and args[0] in err and "Traceback" not in err


def test_help_lists_the_hardening_flags() -> None:
    result = CliRunner().invoke(cli, ["serve", "--help"])
    assert result.exit_code == 0
    for flag in ("--header-timeout", "--body-timeout", "--max-connections", "--code-execution", "--upstream-timeout"):
        assert flag in result.stdout


@pytest.mark.parametrize("name", ["header_timeout", "body_timeout", "timeout_grace", "request_timeout"])
@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf")])
def test_server_settings_refuse_bad_seconds(name: str, seconds: float) -> None:
    with pytest.raises(InvalidInputError, match=name):
        ServeConfig(**{name: seconds})

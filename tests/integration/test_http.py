"""HTTP hygiene of the console server over real TLS: security headers, no
version leak, static files and traversal attempts, size limits (431/413),
problem documents, the per-address request rate, and slowloris resistance
(500 slow connections held open while a login still succeeds within 2 s)."""
import http.client
import json
import os
import socket
import ssl
import subprocess
import threading
import time

import pytest

from authclient import ADMIN, ADMIN_PW, Client, add_user, configure, make_web_root, raw_request

SECRET = "TOP-SECRET-OUTSIDE-WEB-ROOT"


@pytest.fixture
def web(tmp_path):
    root = make_web_root(tmp_path / "web")
    (tmp_path / "secret.txt").write_text(SECRET)
    os.symlink(tmp_path / "secret.txt", root / "escape.txt")
    os.symlink(tmp_path, root / "up")
    return root


@pytest.fixture
def d(daemon_factory, web):
    d = daemon_factory("http")
    configure(d, web)
    d.start()
    yield d
    assert d.stop() == 0, d.read_log()


def get(d, target, extra=b""):
    return raw_request(d, b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" + extra + b"\r\n")


def check_security_headers(h):
    assert h["strict-transport-security"].startswith("max-age=")
    csp = h["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert h["x-content-type-options"] == "nosniff"
    assert h["referrer-policy"] == "no-referrer"
    assert h.get("server", "privstack") == "privstack"  # no version


def test_security_headers_everywhere(d):
    for target in (b"/", b"/assets/app.js", b"/healthz", b"/api/v1/session", b"/nope"):
        status, h, _ = get(d, target)
        assert status in (200, 401, 404), target
        check_security_headers(h)


def test_static_files_types_and_caching(d, web):
    status, h, body = get(d, b"/")
    assert status == 200 and body == (web / "index.html").read_bytes()
    assert h["content-type"] == "text/html; charset=utf-8" and h["cache-control"] == "no-cache"
    status, h, body = get(d, b"/assets/app.js")
    assert status == 200 and h["content-type"].startswith("text/javascript")
    assert "max-age" in h["cache-control"]
    etag = h["etag"].encode()
    status, h, body = get(d, b"/assets/app.js", b"If-None-Match: " + etag + b"\r\n")
    assert status == 304 and body == b""


@pytest.mark.parametrize("target", [
    b"/../secret.txt", b"/%2e%2e/secret.txt", b"/%2E%2E/secret.txt", b"/assets/..%2f..%2fsecret.txt",
    b"/assets/%2e%2e/%2e%2e/secret.txt", b"/..%5c..%5csecret.txt", b"/%252e%252e/secret.txt",
    b"/escape.txt", b"/up/secret.txt", b"/index.html%00.js", b"/%00", b"/.%2e/secret.txt",
    b"//etc/passwd", b"/assets/../../../../../etc/passwd",
])
def test_path_traversal_is_impossible(d, target):
    status, h, body = get(d, target)
    assert status in (400, 404), (target, status)
    assert SECRET.encode() not in body and b"root:" not in body
    assert h["content-type"] == "application/problem+json"


def test_oversized_header_431_and_body_413(d):
    status, h, body = get(d, b"/", b"X-Big: " + b"a" * 9000 + b"\r\n")
    assert status == 431
    assert json.loads(body)["status"] == 431
    big = b"x" * (2 * 1024 * 1024)
    status, h, body = raw_request(d, b"POST /api/v1/session HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                                     b"application/json\r\nContent-Length: " + str(len(big)).encode() +
                                  b"\r\n\r\n" + big[:65536])
    assert status == 413


def test_errors_are_problem_documents_without_internals(d):
    status, h, body = get(d, b"/api/v1/nothing-here")
    assert status == 404 and h["content-type"] == "application/problem+json"
    doc = json.loads(body)
    assert set(doc) <= {"type", "title", "status", "detail", "code", "correlation_id"}
    assert doc["code"] == "not_found" and len(doc["correlation_id"]) == 16
    status, h, body = raw_request(d, b"POST /api/v1/session HTTP/1.1\r\nHost: localhost\r\nContent-Type: "
                                     b"application/json\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{{{{{")
    assert status in (400, 503)
    text = body.decode()
    for leak in ("boost", "sqlite", "/work/", "std::", "exception"):
        assert leak not in text.lower()


def test_request_rate_limit_per_address(daemon_factory, web):
    d = daemon_factory("rate")
    configure(d, web, listen_extra="  requests_per_second: 5\n")
    d.start()
    conn = http.client.HTTPSConnection("localhost", d.port, context=d.tls_context(), timeout=10)
    statuses = []
    for _ in range(30):
        try:
            conn.request("GET", "/healthz")
            r = conn.getresponse()
            r.read()
            statuses.append(r.status)
            if r.status == 429:
                assert int(r.getheader("Retry-After")) >= 1
                conn.close()
                conn = http.client.HTTPSConnection("localhost", d.port, context=d.tls_context(), timeout=10)
        except (http.client.HTTPException, OSError):
            conn = http.client.HTTPSConnection("localhost", d.port, context=d.tls_context(), timeout=10)
    assert statuses.count(200) >= 10 and statuses.count(429) >= 5, statuses
    assert d.stop() == 0


class Slowloris:
    """Holds `count` connections that never finish a request: half stall in
    the TLS handshake (raw TCP, no bytes), half complete TLS and trickle an
    endless header. Spread over loopback source addresses."""

    def __init__(self, d, count, sources):
        self.d, self.socks, self.tls = d, [], []
        self.stop = threading.Event()
        ctx = ssl.create_default_context(cafile=str(d.certificate))
        for i in range(count):
            src = sources[i % len(sources)]
            s = socket.create_connection(("127.0.0.1", d.port), timeout=10, source_address=(src, 0))
            if i % 2:
                try:
                    s = ctx.wrap_socket(s, server_hostname="localhost")
                    s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\n")
                    self.tls.append(s)
                except OSError:  # evicted by the server while we were still talking
                    s.close()
                    continue
            self.socks.append(s)
        self.thread = threading.Thread(target=self.trickle, daemon=True)
        self.thread.start()

    def trickle(self):
        n = 0
        while not self.stop.wait(1.0):
            for s in self.tls:
                try:
                    s.sendall(b"X-%d: a\r\n" % n)
                except OSError:
                    pass
            n += 1

    def still_open(self):
        alive = 0
        for s in self.socks:
            try:
                s.setblocking(False)
                data = s.recv(1)
                alive += 0 if data == b"" else 1
            except (BlockingIOError, ssl.SSLWantReadError):
                alive += 1
            except OSError:
                pass
        return alive

    def close(self):
        self.stop.set()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


def test_500_slow_connections_do_not_starve_login(d):
    add_user(d, ADMIN, "admin", ADMIN_PW)
    slow = Slowloris(d, 500, ["127.0.0.2", "127.0.0.3"])
    try:
        time.sleep(1.5)
        t0 = time.monotonic()
        status, _ = Client(d).login(ADMIN, ADMIN_PW)
        elapsed = time.monotonic() - t0
        assert status == 201
        assert elapsed < 2.0, elapsed
        assert slow.still_open() >= 490  # held open, not dropped to make the login work
    finally:
        slow.close()


def test_connection_limit_evicts_idle_connections_of_the_same_address(daemon_factory, web):
    d = daemon_factory("evict")
    configure(d, web, listen_extra="  requests_per_second: 0\n  connections_per_address: 20\n")
    d.start()
    add_user(d, ADMIN, "admin", ADMIN_PW)
    slow = Slowloris(d, 60, ["127.0.0.1"])
    try:
        t0 = time.monotonic()
        status, _ = Client(d).login(ADMIN, ADMIN_PW)
        assert status == 201 and time.monotonic() - t0 < 2.0
        time.sleep(0.5)
        assert slow.still_open() <= 21
    finally:
        slow.close()
    assert d.stop() == 0


# --- lingering close (issue 26, part B) --------------------------------------
# An answer to a request the server did not read to its end (431, 413) must
# reach the client: the server sends close_notify and FIN, then reads and
# discards the rest, so its close does not reset the connection (a reset
# discards the answer in the client's receive buffer). There is no plain-HTTP
# listener (Server::start refuses to run without a TLS context), so these
# run over TLS only.

LINGER_TIMEOUT = 5  # ServerLimits::linger_timeout
LINGER_BYTES = 4 * 1024 * 1024  # ServerLimits::linger_bytes

OVERSIZED = {
    "header-64k": (b"POST /api/v1/session HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 65536 +
                   b"\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}", 431),
    "header-1m": (b"GET /api/v1/session HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * (1024 * 1024) +
                  b"\r\n\r\n", 431),
    # Declared over the limit, and sent whole, as a client that does not wait for 100-continue does.
    "body-declared": (b"POST /api/v1/session HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                      b"Content-Length: %d\r\n\r\n" % (2 * 1024 * 1024) + b"x" * (2 * 1024 * 1024), 413),
    # Chunked: the limit is only found while reading the body.
    "body-chunked": (b"POST /api/v1/session HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                     b"Transfer-Encoding: chunked\r\n\r\n" +
                     (b"10000\r\n" + b"x" * 0x10000 + b"\r\n") * 32 + b"0\r\n\r\n", 413),
}


def send_then_read(d, request):
    """The request sent whole, then the answer read, as curl does: a send
    that fails (the server reset the connection) is the outcome, whatever
    the server had answered. Returns the status, or the send's error."""
    sock = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    with d.tls_context().wrap_socket(sock, server_hostname="localhost") as s:
        try:
            s.sendall(request)
        except OSError as e:
            return f"send: {type(e).__name__}"
        data = b""
        try:
            while chunk := s.recv(65536):
                data += chunk
        except OSError as e:
            if not data:
                return f"recv: {type(e).__name__}"
    return int(data.split(b" ", 2)[1]) if data.startswith(b"HTTP/1.1 ") else "no answer"


@pytest.mark.parametrize("name", sorted(OVERSIZED))
def test_oversized_requests_get_their_status_100_times_in_a_row(d, name):
    request, expected = OVERSIZED[name]
    outcomes = [send_then_read(d, request) for _ in range(100)]
    got = outcomes.count(expected)
    assert got == 100, f"{got}/100 got {expected}; others: {sorted(set(map(str, outcomes)) - {str(expected)})}"


CURL_OVERSIZED = {
    # The case: a new user's login with a 64 KiB header. (curl
    # itself refuses to send a 1 MiB header: "Out of memory".)
    "header-64k": (["-H", "@{dir}/big-header", "--data", "{}"], "431"),
    # A 2 MiB body sent without waiting for 100-continue.
    "body-2m": (["-H", "Expect:", "--data-binary", "@{dir}/big-body"], "413"),
}


@pytest.mark.parametrize("name", sorted(CURL_OVERSIZED))
def test_oversized_requests_with_curl_100_times_in_a_row(d, tmp_path, name):
    (tmp_path / "big-header").write_text("X-Big: " + "a" * 65536 + "\n")
    (tmp_path / "big-body").write_bytes(b"x" * (2 * 1024 * 1024))
    args, expected = CURL_OVERSIZED[name]
    outcomes = []
    for _ in range(100):
        r = subprocess.run(["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--cacert", str(d.certificate),
                            "-H", "Content-Type: application/json", *[a.replace("{dir}", str(tmp_path)) for a in args],
                            f"https://localhost:{d.port}/api/v1/session"], capture_output=True, text=True,
                           timeout=30)
        outcomes.append(r.stdout if r.returncode == 0 else r.stderr.strip())
    got = outcomes.count(expected)
    assert got == 100, f"{got}/100 got {expected}; others: {sorted(set(outcomes) - {expected})}"


def send_until_closed(sock, chunk, interval, within):
    """Sends `chunk` every `interval` s until the server closes (a send
    fails); returns (seconds, bytes sent), or (None, bytes) if it is still
    open after `within` s."""
    t0 = time.monotonic()
    sent = 0
    while time.monotonic() - t0 < within:
        try:
            sock.sendall(chunk)
        except (OSError, socket.timeout):
            return time.monotonic() - t0, sent
        sent += len(chunk)
        if interval:
            time.sleep(interval)
    return None, sent


def test_lingering_close_is_bounded_in_bytes(d):
    # A client that never stops sending is cut off once the server has
    # discarded linger_bytes, long before linger_timeout.
    sock = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    with d.tls_context().wrap_socket(sock, server_hostname="localhost") as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 65536)
        seconds, sent = send_until_closed(s, b"a" * 65536, 0, within=20)
    assert seconds is not None, f"still open after 20 s and {sent} bytes"
    assert seconds < LINGER_TIMEOUT - 1, seconds
    # What was discarded, plus what the two kernels' socket buffers held.
    assert sent < LINGER_BYTES + 24 * 1024 * 1024, sent
    assert_daemon_answers(d)


def test_lingering_close_is_bounded_in_time(d):
    # A client that keeps trickling is cut off after linger_timeout.
    sock = socket.create_connection(("127.0.0.1", d.port), timeout=10)
    with d.tls_context().wrap_socket(sock, server_hostname="localhost") as s:
        t0 = time.monotonic()
        s.sendall(b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 65536)
        seconds, sent = send_until_closed(s, b"a", 0.1, within=20)
        total = time.monotonic() - t0
    assert seconds is not None, f"still open after 20 s"
    assert LINGER_TIMEOUT - 1 < total < LINGER_TIMEOUT + 3, total
    assert_daemon_answers(d)


def test_lingering_close_does_not_delay_the_answer(d):
    # close_notify and FIN go out right after the answer: a client reading to
    # the end of the stream is not kept waiting for the linger to end.
    for request, expected in (OVERSIZED["header-64k"],
                              (b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", 200)):
        for _ in range(10):
            t0 = time.monotonic()
            assert raw_request(d, request)[0] == expected
            assert time.monotonic() - t0 < 1.0


def assert_daemon_answers(d):
    status, _, _ = get(d, b"/healthz")
    assert status == 200

"""Hostile clients against the running daemon over real TLS (issue 12, part 2):
request smuggling attempts, header floods, hostile JSON bodies (deep nesting,
invalid UTF-8, huge numbers, NUL bytes, oversize), SQL-injection payloads in
every string parameter of the records API, thousands of idle TLS
connections, malformed TLS records, slow readers and writers, and invalid
UTF-8 in request targets and headers (sqlmap and wapiti: test_scanners.py).
After each attack: no crash, no 500, no internals in any answer,
nothing injected, and an administrator still signs in within 2 s."""
import json
import resource
import socket
import ssl
import threading
import time
from urllib.parse import quote

import pytest

from authclient import (ADMIN, ADMIN_PW, Client, add_user, assert_admin_signs_in_quickly, assert_no_internals,
                        configure, make_web_root, raw_request)


@pytest.fixture
def d(daemon_factory, tmp_path):
    # 10,000 connections need more descriptors than a login shell's default
    # 1024, in this process and in the daemon (which inherits the limit; the
    # installed unit sets LimitNOFILE=65536).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = 65536 if hard == resource.RLIM_INFINITY else min(65536, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    d = daemon_factory("hostile")
    configure(d, make_web_root(tmp_path / "web"))
    d.start()
    add_user(d, ADMIN, "admin", ADMIN_PW)
    yield d
    assert d.stop() == 0, d.read_log()


def responses_in(d, request_bytes):
    """All status lines the server sends for raw bytes on one connection."""
    ctx = d.tls_context()
    sock = socket.create_connection(("127.0.0.1", d.port), timeout=5)
    data = b""
    with ctx.wrap_socket(sock, server_hostname="localhost") as s:
        s.sendall(request_bytes)
        while True:
            try:
                chunk = s.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
    assert_no_internals(data)
    return [int(line.split()[1]) for line in data.split(b"\r\n") if line.startswith(b"HTTP/1.")]


SMUGGLING = {
    # Content-Length and Transfer-Encoding together (CL.TE / TE.CL desync).
    "cl-and-te": b"POST /api/v1/session HTTP/1.1\r\nHost: localhost\r\nContent-Length: 6\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "two-content-lengths": b"POST /api/v1/session HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0\r\n"
                           b"Content-Length: 44\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "content-length-list": b"POST /api/v1/session HTTP/1.1\r\nHost: localhost\r\nContent-Length: 0, 44\r\n\r\n"
                           b"GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "obfuscated-te": b"POST /api/v1/session HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: xchunked\r\n\r\n"
                     b"0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "space-before-colon": b"POST /api/v1/session HTTP/1.1\r\nHost: localhost\r\nContent-Length : 44\r\n\r\n"
                          b"GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "bad-chunk-size": b"POST /api/v1/session HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"-1\r\nx\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n",
    "bare-lf-header": b"GET /healthz HTTP/1.1\nHost: localhost\nContent-Length: 44\n\n"
                      b"GET /smuggled HTTP/1.1\r\nHost: localhost\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(SMUGGLING))
def test_request_smuggling_gets_one_error_and_a_closed_connection(d, name):
    statuses = responses_in(d, SMUGGLING[name])
    # One answer, an error, and the connection closed: the bytes after the
    # first request are never read as a second request ("/smuggled").
    assert len(statuses) <= 1, statuses
    assert all(400 <= s < 500 or s == 501 for s in statuses), statuses
    assert_admin_signs_in_quickly(d)


def test_header_floods_are_bounded(d):
    # Many small headers within the size limit: answered normally.
    many = b"".join(b"X-F%d: v\r\n" % i for i in range(500))
    status, _, body = raw_request(d, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" + many + b"\r\n")
    assert status == 200, body
    # Over the limit, by count or by one huge value: 431, never a crash.
    flood = b"".join(b"X-F%d: %s\r\n" % (i, b"v" * 100) for i in range(5000))
    status, _, body = raw_request(d, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n" + flood + b"\r\n")
    assert status == 431, status
    assert_no_internals(body)
    huge = b"X-Big: " + b"a" * 1_000_000 + b"\r\n"
    status, _, body = raw_request(d, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n" + huge + b"\r\n")
    assert status == 431, status
    # Ten parallel floods while an admin signs in.
    threads = [threading.Thread(target=raw_request, args=(d, b"GET / HTTP/1.1\r\nHost: x\r\n" + flood + b"\r\n"))
               for _ in range(10)]
    for t in threads:
        t.start()
    assert_admin_signs_in_quickly(d)
    for t in threads:
        t.join()


HOSTILE_BODIES = {
    "deep-array": b"[" * 100_000 + b"]" * 100_000,
    "deep-object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "invalid-utf8": b'{"name": "\xff\xfe\xc3\x28", "role": "operator", "password": "Abc-12345-xyz"}',
    "overlong-utf8": b'{"name": "\xc0\xaf", "role": "operator", "password": "Abc-12345-xyz"}',
    "lone-surrogate": b'{"name": "\\ud800", "role": "operator", "password": "Abc-12345-xyz"}',
    "nul-in-string": b'{"name": "a\\u0000b", "role": "operator", "password": "Abc-12345-xyz"}',
    "huge-number": b'{"name": 1e999999, "role": "operator", "password": "Abc-12345-xyz"}',
    "wrong-types": b'{"name": ["x"], "role": {"a": 1}, "password": 12}',
    "not-json": b"name=bob&role=admin",
    "truncated": b'{"name": "bob", "role": "oper',
    "many-keys": b"{" + b",".join(b'"k%d":%d' % (i, i) for i in range(60_000)) + b"}",
    "oversized": b'{"name": "' + b"a" * 3_000_000 + b'"}',
}


@pytest.mark.parametrize("name", sorted(HOSTILE_BODIES))
def test_hostile_json_bodies_are_refused_cleanly(d, name):
    admin = Client(d)
    assert admin.login(ADMIN, ADMIN_PW)[0] == 201
    before = admin.request("GET", "/api/v1/users")[1]
    h = {"Cookie": admin.cookie, "X-CSRF-Token": admin.csrf, "Origin": f"https://localhost:{d.port}",
         "Content-Type": "application/json"}
    payload = HOSTILE_BODIES[name]
    # Raw bytes: the server may answer 413 and close before reading them all.
    request = (b"POST /api/v1/users HTTP/1.1\r\nHost: localhost:%d\r\nConnection: close\r\n" % d.port +
               b"".join(f"{k}: {v}\r\n".encode() for k, v in h.items()) +
               b"Content-Length: %d\r\n\r\n" % len(payload) + payload)
    status, _, body = raw_request(d, request, timeout=30)
    assert status in (400, 413, 415, 422), (status, body[:300])
    assert_no_internals(body)
    doc = json.loads(body)
    assert doc["status"] == status and doc["title"]
    # Nothing was created.
    assert admin.request("GET", "/api/v1/users")[1] == before
    assert_admin_signs_in_quickly(d)


INJECTIONS = ["' OR '1'='1", "'; DROP TABLE recipients; --", '" OR 1=1 --', "1; SELECT sqlite_version()",
              "%' UNION SELECT name, sql, 1, 1, 1 FROM sqlite_master --", "\\'; --", "a' AND randomblob(999999999)--",
              "') OR ('a'='a", "*/ OR 1=1 /*"]


def test_sql_injection_payloads_are_plain_data(d):
    admin = Client(d)
    assert admin.login(ADMIN, ADMIN_PW)[0] == 201
    status, doc = admin.request("POST", "/api/v1/recipients",
                                {"external_id": "real-1", "name": "Real One", "email": "real@example.org"})
    assert status == 201, doc
    created = []
    for i, payload in enumerate(INJECTIONS):
        # As a stored value: kept byte for byte.
        status, doc = admin.request("POST", "/api/v1/recipients",
                                    {"external_id": f"inj-{i}", "name": payload, "email": f"x{i}@example.org",
                                     "group": payload})
        assert status == 201, (payload, doc)
        created.append(doc["id"])
        status, doc = admin.request("GET", f"/api/v1/recipients/{doc['id']}")
        assert status == 200 and doc["name"] == payload and doc["group"] == payload
        # As a filter: matches only what equals it, never everything.
        for param in ("external_id", "email", "group"):
            status, doc = admin.request("GET", f"/api/v1/recipients?{param}={quote(payload)}")
            assert status in (200, 422), (param, payload, status, doc)
            if status == 200:
                expected = 1 if param == "group" else 0
                assert len(doc["items"]) == expected, (param, payload, doc)
        # As a path parameter and a cursor.
        for path in (f"/api/v1/recipients/{quote(payload, safe='')}", f"/api/v1/recipients?cursor={quote(payload)}",
                     f"/api/v1/users/{quote(payload, safe='')}"):
            status, _, body = d.https("GET", path, headers={"Cookie": admin.cookie})
            assert status in (400, 404, 422), (path, status, body[:200])
            assert_no_internals(body)
    # The tables are whole and the first row is still there.
    status, doc = admin.request("GET", "/api/v1/recipients?limit=1000")
    assert status == 200 and len(doc["items"]) == len(INJECTIONS) + 1
    status, doc = admin.request("GET", "/api/v1/recipients?external_id=real-1")
    assert [r["name"] for r in doc["items"]] == ["Real One"]
    d.ctl("audit", "verify")  # exits non-zero when the chain is broken
    assert_admin_signs_in_quickly(d)


def test_thousands_of_idle_tls_connections_do_not_lock_out_the_admin(d):
    """10,000 idle connections that completed the TLS handshake (the
    daemon's connection limit), from 100 source addresses (the per-address
    limit would otherwise refuse most of them): held open while an admin
    signs in; at the limit the oldest idle connection gives way."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert soft == resource.RLIM_INFINITY or soft >= 10500, f"RLIMIT_NOFILE {soft} is too low for this test"
    ctx = d.tls_context()
    conns = []
    lock = threading.Lock()

    def open_some(source, n):
        for _ in range(n):
            try:
                s = socket.create_connection(("127.0.0.1", d.port), timeout=10, source_address=(source, 0))
                t = ctx.wrap_socket(s, server_hostname="localhost")
            except OSError:
                continue
            with lock:
                conns.append(t)

    threads = [threading.Thread(target=open_some, args=(f"127.0.1.{i + 1}", 100)) for i in range(100)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(conns) >= 9900, len(conns)
        assert_admin_signs_in_quickly(d)
    finally:
        for c in conns:
            try:
                c.close()
            except OSError:
                pass


def closed_by_server(sock, within, received=None):
    """Seconds until the server closes `sock` (EOF or reset), reading
    whatever it still sends (counted in received[0]); None if it stays open
    `within` s."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < within:
        sock.settimeout(max(0.1, within - (time.monotonic() - t0)))
        try:
            data = sock.recv(65536)
        except socket.timeout:
            return None
        except OSError:  # reset, or a TLS error: closed all the same
            return time.monotonic() - t0
        if not data:
            return time.monotonic() - t0
        if received is not None:
            received[0] += len(data)
    return None


def client_hello():
    """The bytes of a real TLS ClientHello (python's ssl over memory BIOs)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        obj.do_handshake()
    hello = outgoing.read()
    assert hello[0] == 0x16 and len(hello) == 5 + int.from_bytes(hello[3:5], "big")
    return hello


def malformed_tls(name):
    hello = client_hello()
    body_len = int.from_bytes(hello[3:5], "big")
    return {
        "garbage-after-client-hello": hello + bytes(range(256)) * 16,
        "record-longer-than-allowed": b"\x16\x03\x01\xff\xff" + b"\x01" * 1000,
        "record-length-too-short": hello[:3] + (body_len - 20).to_bytes(2, "big") + hello[5:],
        "invalid-content-type": b"\x63\x03\x03\x00\x05hello",
        "heartbeat-before-handshake": b"\x18\x03\x01\x00\x03\x01\x40\x00",
        "empty-records": b"\x16\x03\x01\x00\x00" * 200,
        "truncated-handshake": hello[: len(hello) // 2],
        "plain-http-on-the-tls-port": b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
    }[name]


@pytest.mark.parametrize("name", ["garbage-after-client-hello", "record-longer-than-allowed",
                                  "record-length-too-short", "invalid-content-type", "heartbeat-before-handshake",
                                  "empty-records", "truncated-handshake", "plain-http-on-the-tls-port"])
def test_malformed_tls_records_close_the_connection(d, name):
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as s:
        s.sendall(malformed_tls(name))
        if name == "truncated-handshake":
            s.shutdown(socket.SHUT_WR)  # the rest never comes
        seconds = closed_by_server(s, within=5)
    assert seconds is not None, f"{name}: the server kept the connection open"
    assert d.proc.poll() is None
    assert_admin_signs_in_quickly(d)


def trickle(sock, data, stop, interval=1.0):
    """Sends `data` one byte per `interval` until done or `stop` is set."""
    for i in range(len(data)):
        if stop.wait(interval if i else 0):
            return
        try:
            sock.sendall(data[i:i + 1])
        except OSError:
            return


def test_slow_readers_and_writers_are_cut_off(d, tmp_path):
    """Four slow clients at once, each held to a server deadline (not to the
    client's patience): a stalled TLS handshake (10 s), a header trickled a
    byte a second (10 s), a body trickled a byte a second (30 s) and a
    reader that takes a 15 MiB file at a byte a second (30 s write
    deadline). Meanwhile an administrator signs in within 2 s."""
    size = 15 * 1024 * 1024
    (tmp_path / "web" / "assets" / "big.js").write_bytes(b"/" * size)
    ctx = d.tls_context()
    admin = Client(d)
    assert admin.login(ADMIN, ADMIN_PW)[0] == 201
    before = admin.request("GET", "/api/v1/recipients")[1]["items"]
    stop = threading.Event()
    results = {}

    def stalled_handshake():
        with socket.create_connection(("127.0.0.1", d.port), timeout=5) as s:
            s.sendall(client_hello()[:40])
            results["handshake"] = closed_by_server(s, within=25)

    def slow_header():
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", d.port), timeout=5),
                             server_hostname="localhost") as s:
            t = threading.Thread(target=trickle, args=(s, b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n" * 5, stop))
            t.start()
            results["header"] = closed_by_server(s, within=25)
            t.join()

    def slow_body():
        body = json.dumps({"external_id": "slow", "name": "Slow " + "x" * 200, "email": "slow@example.org"}).encode()
        head = (f"POST /api/v1/recipients HTTP/1.1\r\nHost: localhost:{d.port}\r\nCookie: {admin.cookie}\r\n"
                f"X-CSRF-Token: {admin.csrf}\r\nOrigin: https://localhost:{d.port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        with ctx.wrap_socket(socket.create_connection(("127.0.0.1", d.port), timeout=5),
                             server_hostname="localhost") as s:
            s.sendall(head)
            t = threading.Thread(target=trickle, args=(s, body, stop))
            t.start()
            results["body"] = closed_by_server(s, within=45)
            t.join()

    def slow_reader():
        raw = socket.socket()
        raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server's writes block
        raw.settimeout(5)
        raw.connect(("127.0.0.1", d.port))
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(b"GET /assets/big.js HTTP/1.1\r\nHost: localhost\r\n\r\n")
            got, t0 = [0], time.monotonic()
            while time.monotonic() - t0 < 35 and not stop.is_set():
                try:
                    got[0] += len(s.recv(1))
                except OSError:  # closed already (the checks below still apply)
                    break
                time.sleep(1)
            # Now read as fast as possible: the server gave up after its 30 s
            # write deadline, so what is left is what sat in the socket
            # buffers, then the end, long before the whole file.
            results["reader_closed"] = closed_by_server(s, within=10, received=got)
            results["reader_bytes"] = got[0]

    threads = [threading.Thread(target=f) for f in (stalled_handshake, slow_header, slow_body, slow_reader)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    try:
        time.sleep(3)
        assert_admin_signs_in_quickly(d)  # while all four are pending
        for t in threads:
            t.join(timeout=80)
    finally:
        stop.set()
    print("slow clients closed after (s):", results, "total", time.monotonic() - t0)
    assert results["handshake"] is not None and results["handshake"] < 20, results
    assert results["header"] is not None and results["header"] < 20, results
    assert results["body"] is not None and results["body"] < 40, results
    # The reader got a fraction of the file before the server cut it off.
    assert results["reader_closed"] is not None, results
    assert results["reader_bytes"] < size, results
    assert d.proc.poll() is None
    assert admin.request("GET", "/api/v1/recipients")[1]["items"] == before  # the trickled body created nothing
    assert_admin_signs_in_quickly(d)


@pytest.mark.parametrize("target,extra", [
    (b"/api/v1/recipients?group=%ff%fe%c3%28", b""),
    (b"/api/v1/recipients?group=\xff\xfe", b""),
    (b"/api/v1/users/%c0%af", b""),
    (b"/assets/\xc3\x28.js", b""),
    (b"/api/v1/session", b"X-Name: \xff\xfe\xfd\r\n"),
    (b"/api/v1/recipients", b"Cookie: privstack_session=\xff\xfe\r\n"),
])
def test_invalid_utf8_in_targets_and_headers(d, target, extra):
    admin = Client(d)
    assert admin.login(ADMIN, ADMIN_PW)[0] == 201
    cookie = b"" if b"Cookie" in extra else b"Cookie: " + admin.cookie.encode() + b"\r\n"
    status, _, body = raw_request(d, b"GET " + target + b" HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n" +
                                  cookie + extra + b"\r\n")
    assert status in (200, 400, 401, 404, 422), (status, body[:300])
    assert_no_internals(body)
    if status == 200 and target.startswith(b"/api/v1/recipients?"):
        assert json.loads(body)["items"] == []  # matched nothing, not everything
    assert_admin_signs_in_quickly(d)

"""A fault-injecting HTTP proxy in front of a REAL S3 server (Ceph RGW from
scripts/s3-server) for the backup fault tests.

The proxy does no S3 work of its own: every request it lets through goes
byte for byte to RGW, which checks the signature and stores the data, and
RGW's answer goes back unchanged. The proxy only injects faults, chosen per
S3 operation (UploadPart, CompleteMultipartUpload, PutObject, HeadObject,
...) by rules:

- an HTTP error: 500 InternalError, 503 ServiceUnavailable or 503 SlowDown,
  with S3's XML error body, sent after the request body was read (as a
  loaded server or load balancer does); the request never reaches RGW;
- "cut": forward the head and the first K body bytes to RGW, then close
  both connections (a connection lost mid-part; RGW sees a truncated body);
- "lose": forward the whole request, let RGW do it, then answer 500
  instead of RGW's answer (the work happened, the client cannot know);
- "delay": hold the request for some seconds before forwarding it (longer
  than the client's timeout: a server that has stopped answering).

With an ssl.SSLContext the proxy speaks HTTPS (for the client's TLS path:
certificate verification against backup.s3.ca_file, SNI, close_notify).

A rule applies to the first N matching requests (`first=N`), to N of every
M (`every=(N, M)`: the first N of each run of M), or to all of them
(`first=None`). Counters record every request by operation and what was
done to it, so a test can assert that the client really retried.

The client under test opens one connection per request (daemon/backup's
S3 client does); the proxy answers one request per connection and asks RGW
to close after it (Connection: close, which is not a signed header).
"""
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

ERRORS = {
    500: ("InternalError", "We encountered an internal error. Please try again."),
    503: ("ServiceUnavailable", "Please reduce your request rate."),
}


def operation(method, target):
    """The S3 operation a request is, from its method and query (path-style)."""
    url = urlsplit(target)
    q = parse_qs(url.query, keep_blank_values=True)
    has_key = url.path.strip("/").count("/") >= 1
    if method == "PUT" and "partNumber" in q:
        return "UploadPart"
    if method == "POST" and "uploads" in q:
        return "CreateMultipartUpload"
    if method == "POST" and "uploadId" in q:
        return "CompleteMultipartUpload"
    if method == "DELETE" and "uploadId" in q:
        return "AbortMultipartUpload"
    if method == "GET" and "uploadId" in q:
        return "ListParts"
    if method == "GET" and not has_key:
        return "ListMultipartUploads" if "uploads" in q else "ListObjects"
    return {"PUT": "PutObject", "GET": "GetObject", "HEAD": "HeadObject", "DELETE": "DeleteObject"}.get(
        method, method)


@dataclass
class Rule:
    op: str                 # an operation() name, or "*" for every request
    action: str             # "status", "cut", "lose" or "delay"
    status: int = 503
    code: str = ""          # S3 error code; default from ERRORS
    cut_after: int = 0      # body bytes forwarded before "cut" closes
    delay: float = 0.0      # seconds, for "delay"
    first: int | None = 1   # apply to the first N matches; None: every match
    every: tuple | None = None  # (n, m): apply to the first n of each m matches
    matched: int = 0        # matching requests seen so far

    def applies(self):
        """Counts one matching request; whether the fault hits it."""
        i = self.matched
        self.matched += 1
        if self.every:
            n, m = self.every
            return i % m < n
        return self.first is None or i < self.first


class S3FaultProxy:
    """Listens on 127.0.0.1 (a free port) and forwards to upstream (host, port)."""

    def __init__(self, upstream_host, upstream_port, tls=None):
        self.upstream = (upstream_host, upstream_port)
        self.tls = tls  # an ssl.SSLContext: serve HTTPS
        self.rules = []
        self.lock = threading.Lock()
        self.seen = Counter()      # op -> requests received
        self.injected = Counter()  # (op, what) -> faults injected
        self.passed = Counter()    # (op, status) -> answers relayed from RGW
        self.listener = socket.socket()
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        self.endpoint = f"https://localhost:{self.port}" if tls else f"http://127.0.0.1:{self.port}"
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    # --- control --------------------------------------------------------------

    def set_rules(self, *rules):
        """Replaces the rules (and resets the counters)."""
        with self.lock:
            self.rules = list(rules)
            self.seen.clear()
            self.injected.clear()
            self.passed.clear()

    def clear(self):
        self.set_rules()

    def stats(self):
        with self.lock:
            return {"seen": dict(self.seen), "injected": dict(self.injected), "passed": dict(self.passed)}

    def close(self):
        self.closed = True
        self.listener.close()

    # --- serving --------------------------------------------------------------

    def _accept(self):
        while not self.closed:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _choose(self, op):
        with self.lock:
            self.seen[op] += 1
            for rule in self.rules:
                if rule.op in (op, "*") and rule.applies():
                    return rule
        return None

    def _count(self, counter, key):
        with self.lock:
            counter[key] += 1

    def _serve(self, conn):
        try:
            conn.settimeout(120)
            if self.tls:
                conn = self.tls.wrap_socket(conn, server_side=True)
            head, rest = _read_head(conn)
            if head is None:
                return
            request_line, headers = _parse_head(head)
            method, target, _ = request_line.split(" ", 2)
            length = int(headers.get("content-length", "0"))
            op = operation(method, target)
            rule = self._choose(op)
            if rule and rule.action == "delay":
                self._count(self.injected, (op, "delay"))
                time.sleep(rule.delay)
            if rule and rule.action == "status":
                _read_body(conn, rest, length)
                code, message = ERRORS.get(rule.status, ("InternalError", "injected"))
                code = rule.code or code
                self._count(self.injected, (op, f"{rule.status} {code}"))
                body = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                        f"<Message>{message}</Message><RequestId>injected</RequestId></Error>").encode()
                reason = "Service Unavailable" if rule.status == 503 else "Internal Server Error"
                conn.sendall(f"HTTP/1.1 {rule.status} {reason}\r\nContent-Type: application/xml\r\n"
                             f"Content-Length: {len(body) if method != 'HEAD' else 0}\r\n"
                             f"Connection: close\r\n\r\n".encode() + (body if method != "HEAD" else b""))
                return
            up = socket.create_connection(self.upstream, timeout=120)
            try:
                up.sendall(_rewrite_head(head))
                if rule and rule.action == "cut":
                    sent = _forward_body(conn, up, rest, min(length, rule.cut_after))
                    self._count(self.injected, (op, f"cut after {sent} bytes"))
                    return  # both closed in finally: RGW sees a truncated body
                _forward_body(conn, up, rest, length)
                response = _read_all(up)
            finally:
                up.close()
            if rule and rule.action == "lose":
                self._count(self.injected, (op, "lost answer"))
                conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                return
            self._count(self.passed, (op, _final_status(response)))
            conn.sendall(response)
        except OSError:
            pass
        finally:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            conn.close()


def _read_head(conn):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None, b""
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n", rest


def _parse_head(head):
    lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    return lines[0], headers


def _rewrite_head(head):
    """The same head with Connection: close (unsigned), so RGW ends the exchange."""
    lines = [l for l in head.decode("latin-1").split("\r\n") if l and not l.lower().startswith("connection:")]
    return ("\r\n".join(lines) + "\r\nConnection: close\r\n\r\n").encode("latin-1")


def _read_body(conn, rest, length):
    got = len(rest)
    while got < length:
        chunk = conn.recv(min(65536, length - got))
        if not chunk:
            break
        got += len(chunk)


def _forward_body(conn, up, rest, length):
    """Copies `length` body bytes from the client to upstream; returns the count sent."""
    first = rest[:length]
    up.sendall(first)
    sent = len(first)
    while sent < length:
        chunk = conn.recv(min(65536, length - sent))
        if not chunk:
            break
        up.sendall(chunk)
        sent += len(chunk)
    return sent


def _final_status(response):
    """The status of the final answer (after any 100 Continue); 0 if none."""
    while response.startswith(b"HTTP/"):
        status = int(response.split(b" ", 2)[1])
        if status >= 200 or b"\r\n\r\n" not in response:
            return status
        response = response.partition(b"\r\n\r\n")[2]
    return 0


def _read_all(up):
    data = []
    while True:
        chunk = up.recv(65536)
        if not chunk:
            return b"".join(data)
        data.append(chunk)

"""Helpers for test_auth*.py, test_http*.py and test_tls*.py: a config with
our own web root, first-admin creation over the control socket, and a small
cookie/CSRF-aware HTTPS client (python's http.client over real TLS)."""
import http.client
import json
import socket
import time

ADMIN = "admin"
ADMIN_PW = "Console-Pass-123!"
ROLES = ["admin", "operator", "auditor", "issuer", "support"]
# Words that would reveal internals (libraries, source files, SQL) in an answer.
INTERNALS = [b"boost", b"beast", b".cpp", b".hpp", b"sqlite", b"SQLITE", b"sqlcipher", b"SELECT ", b"INSERT ",
             b"what()", b"exception", b"/work/", b"/usr/"]


def configure(d, web_root, listen_extra="  requests_per_second: 0\n", extra=""):
    """Writes d's configuration (instead of the conftest default) so tests
    can choose the web root and limits without duplicate YAML keys."""
    d.config_path.write_text(
        f"""listen:
  address: 127.0.0.1
  port: {d.port}
{listen_extra}control:
  socket: {d.socket}
state_directory: {d.state}
console:
  web_root: {web_root}
{extra}"""
    )


def make_web_root(path):
    path.mkdir(parents=True, exist_ok=True)
    (path / "assets").mkdir(exist_ok=True)
    (path / "index.html").write_text("<!doctype html><title>privstack</title><script src=/assets/app.js></script>")
    (path / "assets" / "app.js").write_text("console.log('privstack');\n" * 40)
    (path / "assets" / "app.css").write_text("body { margin: 0 }\n")
    return path


def add_user(d, name, role, password):
    return d.ctl("user", "add", name, "--role", role, "--password-stdin", input=password + "\n")


class Client:
    """One user agent: keeps the session cookie and CSRF token."""

    def __init__(self, d, origin=True):
        self.d = d
        self.cookie = None
        self.csrf = None
        self.origin = origin
        self.bearer = None
        self.last_headers = {}

    def request(self, method, path, body=None, headers=None, csrf=True, timeout=10):
        h = {}
        if self.cookie:
            h["Cookie"] = self.cookie
        if self.bearer:
            h["Authorization"] = "Bearer " + self.bearer
        if method not in ("GET", "HEAD"):
            if csrf and self.csrf:
                h["X-CSRF-Token"] = self.csrf
            if self.origin:
                h["Origin"] = f"https://localhost:{self.d.port}"
        h.update(headers or {})
        status, hdrs, data = self.d.https(method, path, body=body, headers=h, timeout=timeout)
        self.last_headers = hdrs
        try:
            doc = json.loads(data) if data else None
        except ValueError:
            doc = None
        return status, doc

    def login(self, username, password, totp=None):
        body = {"username": username, "password": password}
        if totp is not None:
            body["totp"] = totp
        status, doc = self.request("POST", "/api/v1/session", body)
        if status == 201:
            cookie = self.last_headers["set-cookie"]
            self.cookie = cookie.split(";", 1)[0]
            self.csrf = doc["csrf_token"]
        return status, doc


def login_retrying(client, user, password, totp=None, timeout=30):
    """Logs in, waiting out 429 Retry-After answers."""
    deadline = time.monotonic() + timeout
    while True:
        status, doc = client.login(user, password, totp)
        if status != 429 or time.monotonic() > deadline:
            return status, doc
        time.sleep(float(client.last_headers.get("retry-after", "1")))


def raw_request(d, request_bytes, timeout=5, source=None):
    """Sends bytes as they are (no client-side normalisation) over TLS; returns (status, headers, body)."""
    ctx = d.tls_context()
    sock = socket.create_connection(("127.0.0.1", d.port), timeout=timeout,
                                    source_address=(source, 0) if source else None)
    with ctx.wrap_socket(sock, server_hostname="localhost") as s:
        try:
            s.sendall(request_bytes)
        except OSError:
            pass  # the server may answer (413, 431) and close before it has read everything
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except OSError:
                break
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines and lines[0].startswith("HTTP/") else 0
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def assert_admin_signs_in_quickly(d):
    """The check after every attack: an administrator signs in within 2 s
    and /healthz answers."""
    t0 = time.monotonic()
    status, _ = Client(d).login(ADMIN, ADMIN_PW)
    elapsed = time.monotonic() - t0
    assert status == 201
    assert elapsed < 2.0, elapsed
    status, _, _ = d.https("GET", "/healthz")
    assert status == 200


def assert_no_internals(body):
    for word in INTERNALS:
        assert word not in body, (word, body[:400])

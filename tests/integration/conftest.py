"""Shared fixtures for the integration tests.

Every test here drives the real privstackd binary of the build under test
(PRIVSTACK_BUILD_DIR) over real sockets: TLS on loopback, the control
socket, and a systemd-style notify socket that the test owns.
"""
import json
import os
import signal
import socket
import ssl
import subprocess
import threading
import time
import http.client
from pathlib import Path

import pytest

BUILD_DIR = Path(os.environ.get("PRIVSTACK_BUILD_DIR", Path(__file__).resolve().parents[2] / "build" / "test"))
SOURCE_DIR = Path(os.environ.get("PRIVSTACK_SOURCE_DIR", Path(__file__).resolve().parents[2]))
PRIVSTACKD = BUILD_DIR / "daemon" / "privstackd"
PRIVSTACKCTL = BUILD_DIR / "daemon" / "privstackctl"
# Sanitizer builds start several times slower.
START_TIMEOUT = 60


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class NotifySocket:
    """A datagram socket in the role of systemd's NOTIFY_SOCKET."""

    def __init__(self, path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages = []
        self.cond = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.closed:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            with self.cond:
                for line in data.decode().split("\n"):
                    if line:
                        self.messages.append(line)
                self.cond.notify_all()

    def wait_for(self, text, timeout=START_TIMEOUT, start=0):
        """Waits until a message equal to `text` arrives at or after index `start`; returns its index."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.messages)):
                    if self.messages[i] == text:
                        return i
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no {text!r} on NOTIFY_SOCKET within {timeout}s; got {self.messages}")
                self.cond.wait(left)

    def close(self):
        self.closed = True
        self.sock.close()


class Daemon:
    """One privstackd process with its own state directory, port and sockets."""

    def __init__(self, workdir: Path):
        self.dir = workdir
        self.state = workdir / "state"
        self.state.mkdir(mode=0o750)
        self.port = free_port()
        self.socket = workdir / "control.sock"
        self.config_path = workdir / "privstack.yaml"
        self.log_path = workdir / "daemon.log"
        self.proc = None
        self.notify = None
        self.extra_config = ""
        self.env = {}

    def write_config(self, extra=None):
        if extra is not None:
            self.extra_config = extra
        self.config_path.write_text(
            f"""listen:
  address: 127.0.0.1
  port: {self.port}
control:
  socket: {self.socket}
state_directory: {self.state}
console:
  web_root: {SOURCE_DIR / 'web'}
{self.extra_config}"""
        )

    def start(self, wait_ready=True, extra_env=None, args=()):
        if not self.config_path.exists():
            self.write_config()
        self.init_store_key()
        if self.notify:
            self.notify.close()
        notify_path = self.dir / "notify.sock"
        if notify_path.exists():
            notify_path.unlink()
        self.notify = NotifySocket(notify_path)
        env = dict(os.environ)
        env.update(self.env)
        env["NOTIFY_SOCKET"] = str(notify_path)
        if extra_env:
            env.update(extra_env)
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [str(PRIVSTACKD), "--config", str(self.config_path), "--log-target", "stderr", *args],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        if wait_ready:
            self.wait_ready()
        return self

    def init_store_key(self):
        """Creates the store key on first start when this build has a store."""
        key = self.state / "store.key"
        if key.exists():
            return
        help_text = subprocess.run([str(PRIVSTACKCTL), "--help"], capture_output=True, text=True).stdout
        if "store init-key" in help_text:
            subprocess.run([str(PRIVSTACKCTL), "store", "init-key", "--config", str(self.config_path)],
                           check=True, capture_output=True)

    def wait_ready(self):
        try:
            self.notify.wait_for("READY=1")
        except AssertionError:
            raise AssertionError(f"privstackd did not become ready; log:\n{self.read_log()}")

    def read_log(self):
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("privstackd did not stop in time")
        rc = self.proc.returncode if self.proc else None
        if self.notify:
            self.notify.close()
            self.notify = None
        return rc

    # --- clients -----------------------------------------------------------

    @property
    def certificate(self):
        return self.state / "tls" / "certificate.pem"

    def tls_context(self, verify=True):
        ctx = ssl.create_default_context(cafile=str(self.certificate)) if verify else ssl._create_unverified_context()
        return ctx

    def https(self, method, path, body=None, headers=None, timeout=10):
        """One request on a new verified TLS connection; returns (status, headers, body bytes)."""
        conn = http.client.HTTPSConnection("localhost", self.port, context=self.tls_context(), timeout=timeout)
        try:
            data = json.dumps(body).encode() if isinstance(body, (dict, list)) else body
            hdrs = dict(headers or {})
            if isinstance(body, (dict, list)):
                hdrs.setdefault("Content-Type", "application/json")
            conn.request(method, path, body=data, headers=hdrs)
            resp = conn.getresponse()
            return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
        finally:
            conn.close()

    def ctl(self, *args, input=None, check=True):
        """Runs privstackctl against this daemon; returns CompletedProcess."""
        r = subprocess.run([str(PRIVSTACKCTL), "--socket", str(self.socket), *args], input=input,
                           capture_output=True, text=True, timeout=120)
        if check and r.returncode != 0:
            raise AssertionError(f"privstackctl {' '.join(args)} failed ({r.returncode}): {r.stderr}")
        return r


@pytest.fixture
def daemon_factory(tmp_path):
    """Makes Daemon objects (not started) and stops them all at the end."""
    made = []

    def factory(name="d"):
        (tmp_path / name).mkdir(exist_ok=True)
        d = Daemon(tmp_path / name)
        made.append(d)
        return d

    yield factory
    for d in made:
        try:
            d.stop(sig=signal.SIGKILL if d.proc and d.proc.poll() is None else signal.SIGTERM)
        except Exception:
            pass


@pytest.fixture
def daemon(daemon_factory):
    """A started privstackd with a fresh state directory."""
    d = daemon_factory("main")
    d.start()
    yield d
    rc = d.stop()
    assert rc == 0, f"privstackd exited {rc}; log:\n{d.read_log()}"

"""Daemon lifecycle as systemd sees it: READY, STATUS, WATCHDOG, RELOADING,
STOPPING, signals, the drain on SIGTERM, and the command line."""
import json
import os
import signal
import socket
import ssl
import stat
import subprocess
import time

from conftest import PRIVSTACKD, Daemon


def tls13_get(d, path="/healthz"):
    ctx = d.tls_context()
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    with socket.create_connection(("127.0.0.1", d.port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
            data = b""
            while chunk := s.recv(65536):
                data += chunk
            return s.version(), data


def test_ready_then_healthz_over_tls13(daemon):
    i = daemon.notify.wait_for("READY=1")
    assert any(m.startswith("STATUS=serving on 127.0.0.1:") for m in daemon.notify.messages[i:]), daemon.notify.messages
    version, data = tls13_get(daemon)
    assert version == "TLSv1.3"
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    # Degraded (still 200) by the backup component alone: the fixture's
    # daemon has no backup.recovery_public_key, so it cannot back up.
    doc = json.loads(body)
    assert doc["status"] == "degraded", doc
    assert {n for n, c in doc["components"].items() if c["state"] != "ok"} == {"backup"}, doc
    assert b'"listener":{"state":"ok"}' in body


def test_self_signed_certificate_is_made_once_with_private_key_0600(daemon):
    key = daemon.state / "tls" / "private_key.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    # Verification against the generated certificate with hostname checking:
    # the SAN holds localhost and 127.0.0.1.
    status, _, _ = daemon.https("GET", "/healthz")
    assert status == 200
    before = daemon.certificate.read_bytes()
    daemon.stop()
    daemon.start()
    assert daemon.certificate.read_bytes() == before


def test_sighup_with_broken_config_keeps_old_config_serving(daemon):
    daemon.config_path.write_text(daemon.config_path.read_text() + "listen:\n  port: 1\n  bogus: [\n")
    start = len(daemon.notify.messages)
    daemon.proc.send_signal(signal.SIGHUP)
    i = next_index_with_prefix(daemon, "RELOADING=1", start)
    daemon.notify.wait_for("READY=1", start=i)
    status, _, _ = daemon.https("GET", "/healthz")
    assert status == 200
    log = wait_for_log(daemon, "config.rejected")
    # The problem is reported with its position in the file.
    assert f"{daemon.config_path}:" in log
    assert daemon.proc.poll() is None


def test_sighup_reloads_certificate_without_dropping_connections(daemon_factory, tmp_path):
    d = daemon_factory("certs")
    d.write_config()
    d.start()
    # Switch to an explicitly configured certificate: copy the generated one.
    cert_a = d.certificate.read_bytes()
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(d.dir / "new.key"), "-out", str(d.dir / "new.pem"), "-days", "30",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    os.chmod(d.dir / "new.key", 0o600)
    ctx = d.tls_context()
    import http.client
    keep = http.client.HTTPSConnection("localhost", d.port, context=ctx, timeout=10)
    keep.request("GET", "/healthz")
    assert keep.getresponse().read()
    d.write_config(f"tls:\n  certificate: {d.dir / 'new.pem'}\n  private_key: {d.dir / 'new.key'}\n")
    start = len(d.notify.messages)
    d.proc.send_signal(signal.SIGHUP)
    i = next_index_with_prefix(d, "RELOADING=1", start)
    d.notify.wait_for("READY=1", start=i)
    # The connection opened before the reload still works...
    keep.request("GET", "/healthz")
    assert keep.getresponse().status == 200
    keep.close()
    # ...and new connections get the new certificate, which expires in 30 days:
    # the daemon reports it as degraded in /healthz.
    served = ssl.get_server_certificate(("127.0.0.1", d.port))
    assert served.strip() == (d.dir / "new.pem").read_text().strip()
    assert served.encode() != cert_a
    wait_for_log(d, "tls.certificate_expiring")
    assert d.stop() == 0


def test_sigterm_drains_in_flight_request_and_exits_zero(daemon):
    ctx = daemon.tls_context()
    raw = socket.create_connection(("127.0.0.1", daemon.port), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    # A request whose body is still arriving when SIGTERM comes.
    s.sendall(b"POST /healthz HTTP/1.1\r\nHost: localhost\r\nContent-Length: 10\r\n\r\n12345")
    time.sleep(0.3)
    start = len(daemon.notify.messages)
    t0 = time.monotonic()
    daemon.proc.send_signal(signal.SIGTERM)
    daemon.notify.wait_for("STOPPING=1", start=start, timeout=5)
    s.sendall(b"67890")
    data = s.recv(65536)
    assert data.startswith(b"HTTP/1.1 405"), data  # answered, not cut off
    s.close()
    rc = daemon.proc.wait(5)
    assert rc == 0
    assert time.monotonic() - t0 < 5


def test_idle_keepalive_connection_does_not_delay_stop(daemon):
    import http.client
    c = http.client.HTTPSConnection("localhost", daemon.port, context=daemon.tls_context(), timeout=10)
    c.request("GET", "/healthz")
    c.getresponse().read()
    t0 = time.monotonic()
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(5) == 0
    assert time.monotonic() - t0 < 2
    c.close()


def test_watchdog_pings_when_requested(daemon_factory):
    d = daemon_factory("wd")
    d.start(extra_env={"WATCHDOG_USEC": "400000"})
    i = d.notify.wait_for("WATCHDOG=1")
    d.notify.wait_for("WATCHDOG=1", start=i + 1, timeout=3)
    assert d.stop() == 0


def test_no_watchdog_pings_without_watchdog_usec(daemon):
    time.sleep(0.5)
    assert "WATCHDOG=1" not in daemon.notify.messages


def test_port_in_use_fails_with_clear_message(daemon_factory):
    blocker = socket.socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    d = daemon_factory("busy")
    d.port = blocker.getsockname()[1]
    d.write_config()
    d.start(wait_ready=False)
    assert d.proc.wait(30) == 1
    log = d.read_log()
    assert f"cannot listen on 127.0.0.1:{d.port}: Address already in use" in log
    assert "READY=1" not in d.notify.messages
    blocker.close()


def test_command_line(tmp_path):
    r = subprocess.run([str(PRIVSTACKD), "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("privstackd ")
    r = subprocess.run([str(PRIVSTACKD), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "--check-config" in r.stdout
    r = subprocess.run([str(PRIVSTACKD), "--frobnicate"], capture_output=True, text=True)
    assert r.returncode == 2 and "unknown argument '--frobnicate'" in r.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("listen:\n  port: 99999\n  adress: 1.2.3.4\n")
    r = subprocess.run([str(PRIVSTACKD), "--config", str(bad), "--check-config"], capture_output=True, text=True)
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 2, r.stderr
    assert lines[0].startswith(f"{bad}:2:9: "), lines
    assert lines[1].startswith(f"{bad}:3:3: ") and "did you mean 'listen.address'" in lines[1], lines
    good = tmp_path / "good.yaml"
    good.write_text("listen:\n  port: 9443\n")
    r = subprocess.run([str(PRIVSTACKD), "--config", str(good), "--check-config"], capture_output=True, text=True)
    assert r.returncode == 0 and "configuration OK" in r.stdout



def check_config(path):
    return subprocess.run([str(PRIVSTACKD), "--config", str(path), "--check-config"], capture_output=True, text=True,
                          timeout=30)


def test_check_config_validates_key_material(tmp_path):
    """Issue 26: --check-config parses the recovery key and the TLS pair
    instead of leaving them to fail at run time."""
    subprocess.run(["openssl", "genpkey", "-algorithm", "X25519", "-out", str(tmp_path / "recovery.pem")], check=True)
    pub = subprocess.run(["openssl", "pkey", "-in", str(tmp_path / "recovery.pem"), "-pubout"], check=True,
                         capture_output=True, text=True).stdout
    (tmp_path / "recovery.pub").write_text(pub)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost", "-days", "2"],
                   check=True, capture_output=True)
    key.chmod(0o600)
    tls = f"tls:\n  certificate: {cert}\n  private_key: {key}\n"
    good = tmp_path / "good.yaml"
    indented = "".join("    " + line + "\n" for line in pub.strip().splitlines())
    good.write_text(tls + "backup:\n  recovery_public_key: |\n" + indented)
    r = check_config(good)
    assert r.returncode == 0 and "configuration OK" in r.stdout, r.stderr

    # The mistake from the issue: the key's file name instead of the key.
    bad = tmp_path / "bad.yaml"
    bad.write_text(tls + f"backup:\n  recovery_public_key: {tmp_path / 'recovery.pub'}\n")
    r = check_config(bad)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"{bad}:5:24: backup.recovery_public_key: '{tmp_path / 'recovery.pub'}' is a file name; this key takes the "
        "public key itself: its PEM text (as a block scalar, `|`) or the base64 of its 32 bytes"], r.stderr

    # A key that is not the certificate's, and one readable by the group.
    other = tmp_path / "other.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out",
                    str(other)], check=True)
    other.chmod(0o600)
    mismatched = tmp_path / "mismatched.yaml"
    mismatched.write_text(f"tls:\n  certificate: {cert}\n  private_key: {other}\n")
    r = check_config(mismatched)
    assert r.returncode == 1
    assert r.stderr.strip() == f"{mismatched}:3:16: tls.private_key: {other} is not the key of the certificate in {cert}"
    key.chmod(0o640)
    r = check_config(good)
    assert r.returncode == 1 and r.stderr.startswith(f"{good}:3:16: tls.private_key: secret file {key} has mode 0640")


def next_index_with_prefix(d, prefix, start, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for i in range(start, len(d.notify.messages)):
            if d.notify.messages[i].startswith(prefix):
                return i
        time.sleep(0.02)
    raise AssertionError(f"no {prefix} on NOTIFY_SOCKET; got {d.notify.messages}")


def wait_for_log(d, text, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        log = d.read_log()
        if text in log:
            return log
        time.sleep(0.05)
    raise AssertionError(f"{text!r} not in log:\n{d.read_log()}")

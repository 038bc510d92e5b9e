"""Incidents, webhooks, journald and metrics, driven by a real attack: 20
failed logins from two source addresses (127.0.0.1 and 127.0.0.2: the
daemon keys throttling on the peer address and trusts no forwarding header).

Peers: a Python HTTPS webhook receiver whose certificate comes from a test CA
the daemon trusts through notifications.webhook.ca_file, and which checks
every request's HMAC signature; a private systemd-journald in a mount
namespace (as in test_journald.py), read back with journalctl; promtool
(Debian's prometheus package) checks the /metrics output.
"""
import email
import email.policy
import hashlib
import hmac
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import socketserver
import ssl
import subprocess
import textwrap
import threading
import time

import pytest

from conftest import PRIVSTACKD, SOURCE_DIR
from authclient import ADMIN, ADMIN_PW, Client, add_user, login_retrying
from helpers.certs import make_ca_and_server_cert

JOURNALD = "/lib/systemd/systemd-journald"
SECRET = "webhook-shared-secret-for-tests-0123456789"


class Receiver:
    """HTTPS webhook receiver that verifies X-Privstack-Signature."""

    def __init__(self, cert, key):
        self.deliveries = []
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                ts = self.headers.get("X-Privstack-Timestamp", "")
                sig = self.headers.get("X-Privstack-Signature", "")
                expected = "sha256=" + hmac.new(SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
                fresh = ts.isdigit() and abs(time.time() - int(ts)) < 300
                valid = hmac.compare_digest(sig, expected) and fresh
                receiver.deliveries.append({"valid": valid, "body": json.loads(body), "headers": dict(self.headers)})
                self.send_response(204 if valid else 401)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()


def request(d, method, path, body=None, headers=None, source="127.0.0.1"):
    ctx = ssl.create_default_context(cafile=str(d.certificate))
    conn = http.client.HTTPSConnection("localhost", d.port, context=ctx, timeout=20, source_address=(source, 0))
    try:
        h = dict(headers or {})
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    finally:
        conn.close()


def in_journal_namespace():
    if os.geteuid() != 0:
        pytest.skip("needs root to create a mount namespace for a private journald")
    if not os.path.exists(JOURNALD):
        pytest.fail(f"{JOURNALD} missing: scripts/setup installs the systemd package")
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"the kernel forbids mount namespaces here: {r.stderr.decode().strip()}")


def start_in_journal_namespace(d, log):
    """privstackd (same pid as the returned Popen) in a mount namespace with its own journald."""
    script = textwrap.dedent(f"""\
        set -eu
        for dir in /run/systemd /run/log /var/lib/systemd/catalog /usr/lib/systemd/catalog; do
          mkdir -p $dir; mount -t tmpfs tmpfs $dir
        done
        if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi
        if [ ! -s /etc/machine-id ]; then
          [ -e /etc/machine-id ] || touch /etc/machine-id
          cat /proc/sys/kernel/random/uuid | tr -d - > /run/log/machine-id
          mount --bind /run/log/machine-id /etc/machine-id
        fi
        mkdir -p /run/systemd/journal
        cp {SOURCE_DIR}/systemd/privstack.catalog /usr/lib/systemd/catalog/
        {JOURNALD} </dev/null >/dev/null 2>&1 &
        for i in $(seq 1 200); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
        exec {PRIVSTACKD} --config {d.config_path} --log-target journal
        """)
    proc = subprocess.Popen(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                            stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "privstackd exited during start"
        try:
            if request(d, "GET", "/healthz")[0] in (200, 503):
                return proc
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("privstackd did not start")


def journal(proc, *match):
    r = subprocess.run(["nsenter", "-t", str(proc.pid), "-m", "journalctl", "--no-pager", "-o", "json",
                        "SYSLOG_IDENTIFIER=privstackd", *match], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return [json.loads(line) for line in r.stdout.splitlines() if line]


def wait_for(fn, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


def sample(text, name, **labels):
    """The value of one sample in Prometheus text, 0 when absent."""
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        head, _, value = line.rpartition(" ")
        if head == name and not labels:
            return float(value)
        if head.startswith(name + "{"):
            got = dict(p.split("=", 1) for p in head[len(name) + 1:-1].split('",') if p)
            got = {k: v.strip('"') for k, v in got.items()}
            if all(got.get(k) == v for k, v in labels.items()):
                return float(value)
    return 0.0


def test_failed_login_burst_opens_incident_notifies_and_counts(daemon_factory, tmp_path):
    in_journal_namespace()
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: scripts/setup installs the prometheus package"
    ca, cert, key = make_ca_and_server_cert(tmp_path, ca_name="privstack test webhook CA")
    receiver = Receiver(cert, key)
    secret = tmp_path / "webhook-secret"
    secret.write_text(SECRET + "\n")
    secret.chmod(0o600)
    d = daemon_factory("inc")
    d.write_config(textwrap.dedent(f"""\
        notifications:
          webhook:
            url: https://127.0.0.1:{receiver.port}/hooks/privstack
            secret_file: {secret}
            ca_file: {ca}
        incidents:
          window: 15m
          login_failure_threshold: 10
        """))
    d.init_store_key()
    log = open(d.log_path, "ab")
    proc = start_in_journal_namespace(d, log)
    try:
        add_user(d, ADMIN, "admin", ADMIN_PW)
        # Sign in first (from a third address) and make a metrics token.
        status, hdrs, body = request(d, "POST", "/api/v1/session", {"username": ADMIN, "password": ADMIN_PW},
                                     headers={"Origin": f"https://localhost:{d.port}"}, source="127.0.0.3")
        assert status == 201, body
        cookie = hdrs["set-cookie"].split(";", 1)[0]
        csrf = json.loads(body)["csrf_token"]
        session = {"Cookie": cookie, "X-CSRF-Token": csrf, "Origin": f"https://localhost:{d.port}"}
        status, _, body = request(d, "POST", "/api/v1/tokens", {"name": "prometheus", "role": "auditor",
                                                                "expires_in_days": 1},
                                  headers=session, source="127.0.0.3")
        assert status == 201, body
        bearer = {"Authorization": "Bearer " + json.loads(body)["token"]}

        # /metrics needs the metrics permission.
        assert request(d, "GET", "/metrics")[0] == 401
        status, hdrs, before = request(d, "GET", "/metrics", headers=bearer, source="127.0.0.3")
        assert status == 200 and hdrs["content-type"].startswith("text/plain; version=0.0.4")
        before = before.decode()

        # The attack: 20 failed logins, two addresses, several accounts.
        codes = []
        for i in range(20):
            source = "127.0.0.1" if i % 2 == 0 else "127.0.0.2"
            user = ["alice", "bob", "carol", "root"][i % 4]
            status, _, _ = request(d, "POST", "/api/v1/session", {"username": user, "password": f"guess-{i}"},
                                   headers={"Origin": f"https://localhost:{d.port}"}, source=source)
            codes.append(status)
        assert set(codes) <= {401, 429} and 401 in codes, codes

        # The incident: open, high (several accounts and addresses), with a timeline of every attempt.
        def open_incident():
            status, _, body = request(d, "GET", "/api/v1/incidents?state=open", headers=bearer, source="127.0.0.3")
            assert status == 200, body
            items = [i for i in json.loads(body)["incidents"] if i["rule"] == "login_failures"]
            return items and items[0]["event_count"] >= 20 and items[0]
        inc = wait_for(open_incident, what="login_failures incident with 20 events")
        assert inc["severity"] == "high" and inc["state"] == "open"
        status, _, body = request(d, "GET", f"/api/v1/incidents/{inc['id']}", headers=bearer, source="127.0.0.3")
        assert status == 200
        full = json.loads(body)
        events = [t for t in full["timeline"] if t["kind"] == "event"]
        failed = [t for t in events if t["event"] == "auth.login_failed"]
        assert len(failed) == 20, [t["event"] for t in events]
        assert {t["fields"]["REMOTE"] for t in failed} == {"127.0.0.1", "127.0.0.2"}
        assert {t["fields"]["USER"] for t in failed} == {"alice", "bob", "carol", "root"}
        assert full["notification_deadline"] is None  # not marked as a breach yet

        # The webhook: delivered, signed, recorded.
        wait_for(lambda: any(x["body"]["type"] == "incident.opened" for x in receiver.deliveries),
                 what="webhook delivery")
        opened = [x for x in receiver.deliveries if x["body"]["type"] == "incident.opened"]
        assert len(opened) == 1 and all(x["valid"] for x in receiver.deliveries)
        assert opened[0]["body"]["incident"]["id"] == inc["id"]
        assert opened[0]["body"]["incident"]["rule"] == "login_failures"
        status, _, body = request(d, "GET", f"/api/v1/incidents/{inc['id']}", headers=bearer, source="127.0.0.3")
        deliveries = json.loads(body)["deliveries"]
        assert any(x["kind"] == "incident.opened" and x["status"] == 204 for x in deliveries), deliveries

        # Operators: acknowledge, assign, mark as a possible breach (48 h clock), comment, resolve.
        base = f"/api/v1/incidents/{inc['id']}"
        assert request(d, "POST", base + "/acknowledge", {}, headers=bearer, source="127.0.0.3")[0] == 403
        status, _, body = request(d, "POST", base + "/acknowledge", {}, headers=session, source="127.0.0.3")
        assert status == 200 and json.loads(body)["state"] == "acknowledged", body
        assert request(d, "POST", base + "/acknowledge", {}, headers=session, source="127.0.0.3")[0] == 409
        status, _, body = request(d, "POST", base + "/assign", {"owner": "secops"}, headers=session,
                                  source="127.0.0.3")
        assert status == 200 and json.loads(body)["owner"] == "secops"
        status, _, body = request(d, "POST", base + "/breach", {"personal_data_breach": True}, headers=session,
                                  source="127.0.0.3")
        doc = json.loads(body)
        assert status == 200 and doc["personal_data_breach"] is True
        assert 47 * 3600 < doc["notification_time_left_seconds"] <= 48 * 3600
        status, _, body = request(d, "POST", base + "/comments", {"text": "blocked at the edge firewall"},
                                  headers=session, source="127.0.0.3")
        assert status == 200
        status, _, body = request(d, "POST", base + "/resolve", {"comment": "no account compromised"},
                                  headers=session, source="127.0.0.3")
        doc = json.loads(body)
        assert status == 200 and doc["state"] == "resolved"
        kinds = [t["kind"] for t in doc["timeline"] if t["kind"] != "event"]
        assert kinds == ["acknowledge", "assign", "breach", "comment", "resolve"], kinds
        assert any("blocked at the edge firewall" in t["message"] for t in doc["timeline"])
        wait_for(lambda: any(x["body"]["type"] == "incident.resolved" for x in receiver.deliveries),
                 what="resolved webhook")
        assert all(x["valid"] for x in receiver.deliveries)

        # Journald: the incident entries with PRIORITY by severity (high -> 3).
        entries = wait_for(lambda: journal(proc, "PRIVSTACK_EVENT=incident.opened"), what="journal entry")
        e = entries[0]
        assert e["PRIORITY"] == "3" and e["PRIVSTACK_SEVERITY"] == "high"
        assert e["PRIVSTACK_INCIDENT_ID"] == str(inc["id"]) and e["PRIVSTACK_RULE"] == "login_failures"
        assert e["MESSAGE_ID"] == "79b94cbdeb7546db902533f068152538"
        changed = journal(proc, "PRIVSTACK_EVENT=incident.changed")
        assert {c["PRIVSTACK_ACTION"] for c in changed} >= {"acknowledge", "assign", "resolve"}
        assert journal(proc, "PRIVSTACK_EVENT=notification.delivered")

        # Metrics: counters moved, the document passes promtool.
        status, _, after = request(d, "GET", "/metrics", headers=bearer, source="127.0.0.3")
        after = after.decode()
        failed_before = sample(before, "privstack_logins_total", outcome="failed") + \
            sample(before, "privstack_logins_total", outcome="refused")
        failed_after = sample(after, "privstack_logins_total", outcome="failed") + \
            sample(after, "privstack_logins_total", outcome="refused")
        assert failed_after - failed_before == 20, after
        assert sample(after, "privstack_logins_total", outcome="succeeded") >= 1
        assert sample(after, "privstack_incidents_opened_total", rule="login_failures") == 1
        assert sample(after, "privstack_incidents_open", severity="high") == 0  # resolved
        assert sample(after, "privstack_webhook_deliveries_total", result="delivered") >= 2
        assert sample(after, "privstack_http_requests_total", method="POST", route="/api/v1/session",
                      status="401") >= 1
        assert sample(after, "privstack_http_request_duration_seconds_count", route="/api/v1/session") >= 21
        assert 'privstack_build_info{version="' in after
        assert sample(after, "privstack_uptime_seconds") > 0
        assert sample(after, "privstack_store_size_bytes") > 0
        r = subprocess.run([promtool, "check", "metrics"], input=after, capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        receiver.close()
        log.close()
    assert proc.returncode == 0, d.read_log()


JOURNAL_REMOTE = "/lib/systemd/systemd-journal-remote"
JOURNAL_UPLOAD = "/lib/systemd/systemd-journal-upload"


def test_journal_upload_carries_incident_entries_to_journal_remote(daemon_factory, tmp_path):
    """Central logging as docs/operations.md describes it: systemd-journal-upload
    ships privstackd's entries to a systemd-journal-remote receiver (both real,
    from Debian's systemd-journal-remote package, on loopback), and every entry
    arrives with MESSAGE, MESSAGE_ID, PRIORITY and all PRIVSTACK_* fields
    intact, including the incident an attack opened."""
    in_journal_namespace()
    for tool in (JOURNAL_REMOTE, JOURNAL_UPLOAD):
        assert os.path.exists(tool), f"{tool} missing: scripts/setup installs systemd-journal-remote"
    d = daemon_factory("fwd")
    d.write_config(textwrap.dedent("""\
        incidents:
          window: 15m
          login_failure_threshold: 10
        """))
    d.init_store_key()
    log = open(d.log_path, "ab")
    proc = start_in_journal_namespace(d, log)
    remote = None
    try:
        add_user(d, ADMIN, "admin", ADMIN_PW)
        attack(d)
        wait_for(lambda: journal(proc, "PRIVSTACK_EVENT=incident.opened"), what="incident.opened in the journal")
        local = journal(proc)

        # The receiver and the uploader run in privstackd's mount namespace,
        # where its private journald's files are.
        received = tmp_path / "remote"
        received.mkdir()
        port = free_port()
        remote = subprocess.Popen(["nsenter", "-t", str(proc.pid), "-m", JOURNAL_REMOTE,
                                   f"--listen-http=127.0.0.1:{port}", f"--output={received}"],
                                  stdout=log, stderr=subprocess.STDOUT)
        wait_for(lambda: port_open(port), what="systemd-journal-remote listening")
        r = subprocess.run(["nsenter", "-t", str(proc.pid), "-m", JOURNAL_UPLOAD, f"--url=http://127.0.0.1:{port}",
                            "--save-state=" + str(tmp_path / "upload.state"), "--follow=no"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
        remote.send_signal(signal.SIGTERM)  # closes and flushes the journal files it wrote
        assert remote.wait(30) == 0
        remote = None
        r = subprocess.run(["journalctl", "--no-pager", "-o", "json", "-D", str(received),
                            "SYSLOG_IDENTIFIER=privstackd"], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        arrived = [json.loads(line) for line in r.stdout.splitlines() if line]
    finally:
        if remote is not None:
            remote.kill()
            remote.wait()
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()

    def ours(entry):
        """What a central log must keep: the message, its id, priority and our fields."""
        return tuple(sorted((k, v) for k, v in entry.items()
                            if k.startswith("PRIVSTACK_") or k in ("MESSAGE", "MESSAGE_ID", "PRIORITY")))
    assert len(local) >= 5
    sent = sorted(ours(e) for e in local)
    got = sorted(ours(e) for e in arrived)
    missing = [e for e in sent if e not in got]
    assert not missing, f"{len(missing)} of {len(sent)} entries did not arrive intact, e.g. {missing[:2]}"
    opened = [dict(e) for e in got if ("PRIVSTACK_EVENT", "incident.opened") in e]
    assert len(opened) == 1
    assert opened[0]["PRIVSTACK_RULE"] == "login_failures" and opened[0]["PRIVSTACK_SEVERITY"]
    assert opened[0]["MESSAGE_ID"] == "79b94cbdeb7546db902533f068152538"
    assert opened[0]["PRIORITY"] in ("2", "3", "4")
    # The receiver also keeps where each entry came from.
    assert all(e.get("_HOSTNAME") for e in arrived)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


class SmtpReceiver:
    """A minimal SMTP server on loopback (RFC 5321's HELO/EHLO, MAIL, RCPT,
    DATA, RSET, NOOP, QUIT; no extensions): the relay msmtp hands mail to.
    Each message is kept as (envelope sender, envelope recipients, bytes)."""

    def __init__(self):
        self.messages = []
        receiver = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                def say(line):
                    self.wfile.write(line.encode() + b"\r\n")
                say("220 receiver.test ESMTP")
                sender, rcpts = None, []
                while True:
                    line = self.rfile.readline()
                    if not line:
                        return
                    cmd = line.decode("ascii", "replace").strip()
                    verb = cmd.split(" ", 1)[0].upper()
                    if verb in ("HELO", "EHLO"):
                        say("250 receiver.test")
                    elif verb == "MAIL":
                        sender, rcpts = cmd.split(":", 1)[1].strip().strip("<>"), []
                        say("250 OK")
                    elif verb == "RCPT":
                        rcpts.append(cmd.split(":", 1)[1].strip().strip("<>"))
                        say("250 OK")
                    elif verb == "DATA":
                        say("354 end with <CRLF>.<CRLF>")
                        data = []
                        while True:
                            l = self.rfile.readline()
                            if l in (b".\r\n", b".\n", b""):
                                break
                            data.append(l[1:] if l.startswith(b"..") else l)
                        receiver.messages.append((sender, rcpts, b"".join(data)))
                        say("250 queued")
                    elif verb in ("RSET", "NOOP"):
                        say("250 OK")
                    elif verb == "QUIT":
                        say("221 bye")
                        return
                    else:
                        say("502 not implemented")

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def msmtp_sendmail(tmp_path, port):
    """A sendmail for notifications.email: Debian's msmtp relaying to
    127.0.0.1:port. The daemon runs PROGRAM -oi -t with a minimal
    environment; this wrapper names msmtp's configuration (installations use
    /etc/msmtprc instead)."""
    msmtp = shutil.which("msmtp")
    assert msmtp, "msmtp missing: scripts/setup installs it"
    rc = tmp_path / "msmtprc"
    rc.write_text(f"defaults\nauth off\ntls off\naccount default\nhost 127.0.0.1\nport {port}\n"
                  "from privstack@appliance.test\n")
    rc.chmod(0o600)
    wrapper = tmp_path / "sendmail"
    wrapper.write_text(f"#!/bin/sh\nexec {msmtp} -C {rc} \"$@\"\n")
    wrapper.chmod(0o755)
    return wrapper


def attack(d, attempts=12):
    """Failed logins from two addresses: enough to open a login_failures incident (threshold 10)."""
    for i in range(attempts):
        request(d, "POST", "/api/v1/session", {"username": "mallory", "password": f"guess-{i}"},
                headers={"Origin": f"https://localhost:{d.port}"}, source="127.0.0.1" if i % 2 == 0 else "127.0.0.2")


def test_incident_email_through_msmtp(daemon_factory, tmp_path):
    """notifications.email with a real sendmail-compatible program: Debian's
    msmtp (what docs/operations.md recommends under the unit's
    NoNewPrivileges) relays to an SMTP receiver on loopback. The attack
    opens an incident; the mail arrives for both recipients, names the
    incident and its facts, and the delivery is in the API, the metrics and
    the journal-bound log."""
    smtp = SmtpReceiver()
    wrapper = msmtp_sendmail(tmp_path, smtp.port)
    d = daemon_factory("mail")
    d.write_config(textwrap.dedent(f"""\
        notifications:
          email:
            to: [secops@example.org, oncall@example.org]
            from: privstack@appliance.test
            sendmail: {wrapper}
        incidents:
          window: 15m
          login_failure_threshold: 10
        """))
    d.start()
    try:
        add_user(d, ADMIN, "admin", ADMIN_PW)
        attack(d)
        wait_for(lambda: smtp.messages, what="the incident email at the SMTP receiver")
        sender, rcpts, raw = smtp.messages[0]
        assert sorted(rcpts) == ["oncall@example.org", "secops@example.org"]
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        subject = str(msg["Subject"])
        assert subject.startswith(f"[privstack ") and " opened (" in subject, subject
        assert msg["Auto-Submitted"] == "auto-generated" and msg["From"] == "privstack@appliance.test"
        text = msg.get_content()
        assert "Rule:      login_failures" in text and "Severity:  " in text, text
        inc_id = subject.split("incident ", 1)[1].split(" ", 1)[0]

        c = Client(d)
        assert login_retrying(c, ADMIN, ADMIN_PW)[0] == 201
        status, doc = c.request("GET", f"/api/v1/incidents/{inc_id}")
        assert status == 200, doc
        mails = [x for x in doc["deliveries"] if x["target"].startswith("sendmail:")]
        assert mails and mails[0]["status"] == 0 and not mails[0].get("error"), doc["deliveries"]
        assert mails[0]["target"] == "sendmail:secops@example.org,oncall@example.org"
        status, _, metrics_text = request(d, "GET", "/metrics", headers={"Cookie": c.cookie})
        assert status == 200
        assert sample(metrics_text.decode(), "privstack_email_deliveries_total", result="delivered") >= 1
        assert "notification.delivered" in d.read_log() and "CHANNEL=email" in d.read_log()
    finally:
        assert d.stop() == 0
        smtp.close()


def test_incident_email_failure_is_recorded_and_retried(daemon_factory, tmp_path):
    """A sendmail program that fails (here msmtp with no server to talk to):
    the attempt is recorded with the program's exit status and its error
    line, and retried."""
    wrapper = msmtp_sendmail(tmp_path, free_port())  # nothing listens there
    d = daemon_factory("mailfail")
    d.write_config(textwrap.dedent(f"""\
        notifications:
          email:
            to: [secops@example.org]
            sendmail: {wrapper}
        incidents:
          window: 15m
          login_failure_threshold: 10
        """))
    d.start()
    try:
        add_user(d, ADMIN, "admin", ADMIN_PW)
        attack(d)
        c = Client(d)
        assert login_retrying(c, ADMIN, ADMIN_PW)[0] == 201

        def failed_attempts():
            status, doc = c.request("GET", "/api/v1/incidents?state=open")
            items = [i for i in doc["incidents"] if i["rule"] == "login_failures"]
            if not items:
                return None
            status, full = c.request("GET", f"/api/v1/incidents/{items[0]['id']}")
            tries = [x for x in full["deliveries"] if x["target"] == "sendmail:secops@example.org"]
            return len(tries) >= 2 and tries
        tries = wait_for(failed_attempts, timeout=30, what="two failed email attempts")
        assert all(t["status"] not in (0, None) and "exited with status" in t["error"] for t in tries), tries
        assert "msmtp" in tries[0]["error"], tries[0]  # the program's own error line
        log = d.read_log()
        assert "notification.failed" in log and "CHANNEL=email" in log
    finally:
        assert d.stop() == 0

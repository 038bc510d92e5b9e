"""The hash-chained audit log: verify, tampering (edit, delete, reorder,
truncate) detected at the first broken entry, export formats, and no
secrets in the audit log or the journal."""
import csv
import io
import json
import subprocess

import pytest

from conftest import BUILD_DIR, PRIVSTACKCTL

TOOL = BUILD_DIR / "daemon" / "records" / "audit_testtool"


def make_entries(d, n=6):
    """Each `audit verify` and `records export` appends audit entries."""
    for _ in range(n):
        d.ctl("audit", "verify")


def tamper(d, *args):
    subprocess.run([str(TOOL), str(d.state / "privstack.db"), str(d.state / "store.key"), *map(str, args)],
                   check=True, capture_output=True, text=True)


def verify(d):
    r = d.ctl("--json", "audit", "verify", check=False)
    return r


def entries(d):
    out = d.ctl("audit", "export", "--format", "jsonl").stdout
    return [json.loads(line) for line in out.splitlines() if line]


def test_verify_passes_and_names_entries(daemon):
    make_entries(daemon, 3)
    r = daemon.ctl("--json", "audit", "verify")
    report = json.loads(r.stdout)
    assert report["ok"] is True
    assert report["first_broken_seq"] is None
    assert report["entries"] >= 3
    log = entries(daemon)
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    actions = {e["action"] for e in log}
    assert "audit.verify" in actions and "daemon.start" in actions
    local = [e for e in log if e["action"] == "audit.verify"]
    assert all(e["actor"].startswith("local:uid=") and e["source"] == "control-socket" for e in local)


@pytest.mark.parametrize("how,args,broken", [
    ("edit", ("edit", 3), 3),
    ("delete", ("delete", 4), 4),
    ("reorder", ("swap", 2, 5), 2),
])
def test_tampering_is_reported_at_first_broken_entry(daemon_factory, how, args, broken):
    d = daemon_factory(how)
    d.start()
    make_entries(d, 6)
    assert d.stop() == 0
    tamper(d, *args)
    d.start()
    r = verify(d)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"first broken entry: {broken};" in r.stderr, r.stderr
    d.stop()


def test_truncated_tail_is_caught_by_anchor(daemon_factory):
    d = daemon_factory("trunc")
    d.start()
    make_entries(d, 6)
    assert d.stop() == 0  # the final anchor is written on the way out
    anchor = json.loads((d.state / "audit-anchor.json").read_text())
    assert anchor["seq"] >= 7
    assert f"AUDIT_SEQ={anchor['seq']}" in d.read_log() or "audit.anchor" in d.read_log()
    tamper(d, "truncate-after", 3)
    d.start()
    r = verify(d)
    assert r.returncode == 1
    assert "first broken entry: 4;" in r.stderr or "anchor" in r.stderr, r.stderr
    # The daemon keeps the old anchor instead of re-anchoring the shorter log.
    assert json.loads((d.state / "audit-anchor.json").read_text())["seq"] == anchor["seq"]
    d.stop()


def test_anchor_key_outside_store_is_0600(daemon):
    key = daemon.state / "audit-anchor.key"
    assert key.exists()
    assert key.stat().st_mode & 0o777 == 0o600
    assert "audit.anchor" in daemon.read_log()


def test_csv_export_of_audit_log(daemon):
    make_entries(daemon, 2)
    out = daemon.ctl("audit", "export", "--format", "csv").stdout
    rows = list(csv.reader(io.StringIO(out, newline="")))
    assert rows[0] == ["seq", "time", "time_us", "actor", "source", "action", "object", "outcome", "reason",
                       "detail", "hash"]
    assert all(len(r[10]) == 64 for r in rows[1:])
    assert daemon.ctl("audit", "export", "--format", "xml", check=False).returncode == 2


def test_secrets_never_in_audit_log_or_journal(daemon):
    help_text = subprocess.run([str(PRIVSTACKCTL), "--help"], capture_output=True, text=True).stdout
    if "user add" not in help_text:
        pytest.skip("this build has no user management yet")
    password = "Sup3r-Secret-Passw0rd-xyzzy!"
    daemon.ctl("user", "add", "alice", "--role", "admin", "--password-stdin", input=password + "\n")
    wrong = "Wr0ng-Guess-Passw0rd-plugh!"
    # Success first: a failure would throttle the next attempt.
    status, headers, body = daemon.https("POST", "/api/v1/session", {"username": "alice", "password": password})
    assert status in (200, 201), body
    daemon.https("POST", "/api/v1/session", {"username": "alice", "password": wrong})
    token = json.loads(body).get("csrf_token", "")
    cookie = headers.get("set-cookie", "").split(";")[0]
    import time
    for _ in range(50):  # auth events reach the audit log asynchronously
        log = daemon.ctl("audit", "export", "--format", "jsonl").stdout
        if "auth.login_failed" in log:
            break
        time.sleep(0.1)
    journal = daemon.read_log()
    for secret in (password, wrong, cookie.split("=", 1)[-1], token):
        if len(secret) >= 8:
            assert secret not in log
            assert secret not in journal
    actions = [json.loads(l)["action"] for l in log.splitlines()]
    assert "auth.login_failed" in actions and "auth.login_succeeded" in actions


def test_auth_events_of_last_requests_survive_shutdown(daemon):
    """Auth events are appended asynchronously; a SIGTERM right after the
    response must still commit them (the drain waits for pending appends)
    and the final anchor must cover them."""
    password = "Shutd0wn-Race-Passw0rd-quux!"
    daemon.ctl("user", "add", "bob", "--role", "auditor", "--password-stdin", input=password + "\n")
    status, _, body = daemon.https("POST", "/api/v1/session", {"username": "bob", "password": password})
    assert status in (200, 201), body
    daemon.stop()  # SIGTERM at once
    daemon.start()
    log = entries(daemon)
    succeeded = [e for e in log if e["action"] == "auth.login_succeeded" and e["object"] == "user:bob"]
    assert len(succeeded) == 1, [e["action"] for e in log]
    report = json.loads(daemon.ctl("--json", "audit", "verify").stdout)
    assert report["ok"] is True

"""SIGHUP reaches the incident rules (the module contract's reload): a lower
login-failure threshold takes effect without a restart, and the failures
seen before the reload still count in the window.

Real parts: privstackd over TLS, privstackctl over the control socket.
"""
import json
import signal
import textwrap
import time

from authclient import ADMIN, ADMIN_PW, add_user


def config(threshold):
    return textwrap.dedent(f"""\
        auth:
          lockout_threshold: 1000
        incidents:
          window: 15m
          login_failure_threshold: {threshold}
        """)


def incidents(d):
    r = d.ctl("--json", "incidents", "list", "--state", "all")
    return json.loads(r.stdout)["incidents"]


def fail_login(d, i):
    """One failed login: an auth.login_failed event, whether the password was
    checked (401) or the address's growing delay refused it first (429)."""
    status, _, _ = d.https("POST", "/api/v1/session", {"username": f"nobody{i}", "password": f"guess-{i}"},
                           headers={"Origin": f"https://localhost:{d.port}"})
    assert status in (401, 429)


def reload(d):
    """SIGHUP, then READY=1 after the RELOADING=1 (which carries MONOTONIC_USEC too)."""
    start = len(d.notify.messages)
    d.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + 30
    while not any(m.startswith("RELOADING=1") for m in d.notify.messages[start:]):
        assert time.monotonic() < deadline, f"no RELOADING=1; got {d.notify.messages[start:]}"
        time.sleep(0.02)
    reloading = next(i for i in range(start, len(d.notify.messages)) if d.notify.messages[i].startswith("RELOADING=1"))
    d.notify.wait_for("READY=1", start=reloading)
    assert d.read_log().count("config.reloaded") >= 1


def wait_for_incident(d, rule, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = [i for i in incidents(d) if i["rule"] == rule]
        if found:
            return found
        time.sleep(0.2)
    return []


def test_sighup_lowers_the_login_failure_threshold_of_the_incident_rules(daemon_factory):
    d = daemon_factory("reload")
    d.write_config(config(50))
    d.start()
    add_user(d, ADMIN, "admin", ADMIN_PW)

    for i in range(5):
        fail_login(d, i)
    # The rules run on their own thread: give them time, then look.
    assert wait_for_incident(d, "login_failures", timeout=3) == [], "opened below the threshold of 50"

    d.write_config(config(3))
    reload(d)

    # One more failure: 6 in the window, over the new threshold of 3.
    fail_login(d, 5)
    opened = wait_for_incident(d, "login_failures")
    assert len(opened) == 1, incidents(d)
    assert opened[0]["title"].startswith("Repeated failed logins: 6 in 900 s"), opened[0]
    assert opened[0]["event_count"] == 6

    # And back up again: with the threshold at 50 a resolved incident stays resolved.
    d.ctl("incidents", "resolve", str(opened[0]["id"]))
    d.write_config(config(50))
    reload(d)
    fail_login(d, 6)
    time.sleep(1)
    unresolved = [i for i in incidents(d) if i["rule"] == "login_failures" and i["state"] != "resolved"]
    assert unresolved == [], unresolved
    assert d.stop() == 0

"""Fault injection (issue 12, part 3): SIGKILL of the daemon during
concurrent API writes, and a full disk under the daemon's state directory
(a real 8 MiB tmpfs mounted for the test) while customer data is written.
Killed, the daemon restarts with every acknowledged write and its audit
entry; on a full disk it answers a clear error without internals, stays up, loses
nothing it acknowledged, and works again once space is freed: the store and
the audit chain verify and a restart finds every acknowledged row."""
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from authclient import ADMIN, ADMIN_PW, Client, add_user, configure, make_web_root

INTERNALS = [b"boost", b".cpp", b"sqlite", b"SQLITE", b"sqlcipher", b"SELECT ", b"INSERT ", b"/tmp/"]


@pytest.fixture
def small_disk_daemon(daemon_factory, tmp_path):
    d = daemon_factory("full")
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0750", "tmpfs", str(d.state)],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"cannot mount a tmpfs (the test needs root): {r.stderr}"
    try:
        configure(d, make_web_root(tmp_path / "web"))
        d.start()
        add_user(d, ADMIN, "admin", ADMIN_PW)
        yield d
        d.stop()
    finally:
        subprocess.run(["umount", "-l", str(d.state)], check=False)


def fill(path, leave_bytes):
    """Writes a ballast file until only about `leave_bytes` are free."""
    st = os.statvfs(path)
    free = st.f_bavail * st.f_frsize
    ballast = path / "ballast"
    with open(ballast, "wb") as f:
        f.write(b"\0" * max(0, free - leave_bytes))
    return ballast


def test_full_disk_during_writes_loses_nothing_acknowledged(small_disk_daemon, tmp_path):
    d = small_disk_daemon
    admin = Client(d)
    assert admin.login(ADMIN, ADMIN_PW)[0] == 201
    ballast = fill(d.state, 256 * 1024)

    acknowledged, refused = [], []
    for i in range(2000):
        status, doc = admin.request("POST", "/api/v1/recipients",
                                    {"external_id": f"r{i}", "name": "N" * 190 + str(i), "email": f"r{i}@example.org",
                                     "group": "g" * 60})
        if status == 201:
            acknowledged.append(doc["id"])
        else:
            refused.append((status, doc))
            if len(refused) >= 5:
                break
    assert refused, "the disk never filled up"
    assert len(acknowledged) > 0, refused
    for status, doc in refused:
        # A clear, retryable server-side error: no 500, no internals.
        assert status == 507, (status, doc)
        assert doc and doc["status"] == status
        text = repr(doc).encode()
        for word in INTERNALS:
            assert word not in text, (word, doc)
    # Still up while the disk is full.
    assert d.proc.poll() is None
    assert d.https("GET", "/healthz")[0] in (200, 503)
    log = d.read_log()
    assert "store.disk_full: store write failed: the disk holding the store is full" in log

    # Space comes back: writes work again without a restart.
    ballast.unlink()
    status, doc = admin.request("POST", "/api/v1/recipients",
                                {"external_id": "after", "name": "After", "email": "after@example.org"})
    assert status == 201, doc
    d.ctl("store", "check")
    d.ctl("audit", "verify")

    # A restart finds every acknowledged row.
    assert d.stop() == 0, d.read_log()
    d.start()
    admin = Client(d)
    assert admin.login(ADMIN, ADMIN_PW)[0] == 201
    for rid in acknowledged + [doc["id"]]:
        status, _ = admin.request("GET", f"/api/v1/recipients/{rid}")
        assert status == 200, rid
    d.ctl("audit", "verify")


def test_kill_9_during_concurrent_writes_loses_nothing_acknowledged(daemon_factory, tmp_path):
    """Four clients create and update records as fast as they can; the
    daemon is killed with SIGKILL mid-stream, three times. After each
    restart the store and the audit chain verify, and every write that was
    acknowledged (201/200) is there with its audit entry: the answer is sent
    only after the commit."""
    d = daemon_factory("killed")
    configure(d, make_web_root(tmp_path / "web"))
    d.start()
    add_user(d, ADMIN, "admin", ADMIN_PW)
    created = {}  # id -> name acknowledged last
    lock = threading.Lock()
    for round_ in range(3):
        stop = threading.Event()

        def writer(w):
            c = Client(d)
            try:
                if c.login(ADMIN, ADMIN_PW)[0] != 201:
                    return
            except OSError:
                return
            i = 0
            while not stop.is_set():
                name = f"k{round_}-{w}-{i}"
                try:
                    status, doc = c.request("POST", "/api/v1/recipients",
                                            {"external_id": name, "name": name, "email": f"{name}@example.org"})
                    if status == 201:
                        with lock:
                            created[doc["id"]] = name
                        status, doc = c.request("PATCH", f"/api/v1/recipients/{doc['id']}", {"name": name + "-u"})
                        if status == 200:
                            with lock:
                                created[doc["id"]] = name + "-u"
                except OSError:
                    return  # the daemon is gone: what was acknowledged before counts
                i += 1

        before = len(created)
        threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 30
        while len(created) < before + 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        stop.set()
        for t in threads:
            t.join(timeout=30)
        assert len(created) >= before + 40, "the writers did not get going"
        d.stop()  # closes the notify socket of the killed process

        d.start()
        assert "ok: true" in d.ctl("store", "check").stdout
        assert json.loads(d.ctl("--json", "audit", "verify").stdout)["ok"]
        admin = Client(d)
        assert admin.login(ADMIN, ADMIN_PW)[0] == 201
        stored = {}
        cursor = 0
        while True:
            status, page = admin.request("GET", f"/api/v1/recipients?limit=1000&cursor={cursor}")
            assert status == 200, page
            stored.update({r["id"]: r["name"] for r in page["items"]})
            if len(page["items"]) < 1000:
                break
            cursor = page["items"][-1]["id"]
        for rid, name in created.items():
            # A PATCH in flight at the kill may have committed without its
            # answer arriving: then the stored name is the newer one.
            allowed = {name} if name.endswith("-u") else {name, name + "-u"}
            assert stored.get(rid) in allowed, (rid, name, stored.get(rid))
        audited = {json.loads(line)["object"] for line in d.ctl("audit", "export").stdout.splitlines()
                   if json.loads(line)["action"] == "records.recipient.create"}
        assert {f"recipient:{rid}" for rid in created} <= audited
    assert d.stop() == 0, d.read_log()

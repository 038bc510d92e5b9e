"""Fault injection (issue 12, part 3): a full disk under the daemon's state
directory (a real 8 MiB tmpfs mounted for the test) while customer data is
written. The daemon answers a clear error without internals, stays up, loses
nothing it acknowledged, and works again once space is freed: the store and
the audit chain verify and a restart finds every acknowledged row."""
import os
import subprocess

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

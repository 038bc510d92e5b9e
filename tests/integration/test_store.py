"""The encrypted store as the real daemon and privstackctl use it.

Covers: store opened before READY=1; refusal to start (exit 1, one
store.open_failed entry, database bytes and mtime unchanged) with a missing,
wrong or loosely-permissioned key and with a corrupt file; no plaintext in
any file of the state directory; online and offline rekey; and rekey killed
with SIGKILL at many points always leaving a database that opens.
"""
import os
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BUILD_DIR, PRIVSTACKCTL

TESTTOOL = BUILD_DIR / "daemon" / "store" / "store_testtool"
MARKER = "PLAINTEXT-CANARY-5d1f0c9e"


def run_tool(*args, check=True):
    r = subprocess.run([str(TESTTOOL), *map(str, args)], capture_output=True, text=True, timeout=300)
    if check and r.returncode != 0:
        raise AssertionError(f"store_testtool {args} failed ({r.returncode}): {r.stderr}")
    return r


def snapshot(path: Path):
    st = path.stat()
    return path.read_bytes(), st.st_mtime_ns, st.st_size


def expect_refusal(d, needle):
    offset = len(d.read_log())
    d.start(wait_ready=False)
    rc = d.proc.wait(timeout=60)
    log = d.read_log()[offset:]
    assert rc == 1, log
    failures = [line for line in log.splitlines() if "store.open_failed" in line]
    assert len(failures) == 1, log
    assert needle in failures[0], failures[0]
    assert "daemon.ready" not in log
    assert not any(m == "READY=1" for m in d.notify.messages)
    d.notify.close()
    d.notify = None
    return failures[0]


def fresh_key(d, path):
    subprocess.run([str(PRIVSTACKCTL), "store", "init-key", "--config", str(d.config_path), "--key-file", str(path)],
                   check=True, capture_output=True)


def scan_for_plaintext(directory: Path):
    hits = []
    for p in directory.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            for needle in (MARKER.encode(), b"SQLite format 3", b"store_migrations", b"test_events"):
                if needle in data:
                    hits.append((p.name, needle))
    return hits


def test_store_is_open_when_ready(daemon):
    out = daemon.ctl("status").stdout
    assert "store" in out and "SQLCipher" in out
    log = daemon.read_log()
    assert "store.opened" in log and "PRIVSTACK_CIPHER_VERSION=" in log
    assert log.index("store.opened") < log.index("daemon.ready")
    db = daemon.state / "privstack.db"
    assert db.exists() and (db.stat().st_mode & 0o777) == 0o600
    assert (daemon.state / "store.key").stat().st_mode & 0o777 == 0o600
    check = daemon.ctl("store", "check").stdout
    assert "ok: true" in check and "integrity_check:" in check


def test_no_key_and_no_database_refuses_with_init_key_hint(daemon_factory):
    d = daemon_factory()
    d.write_config()
    d.init_store_key = lambda: None
    line = expect_refusal(d, "privstackctl store init-key")
    assert not (d.state / "privstack.db").exists()
    assert line


@pytest.mark.parametrize("damage", ["missing_key", "wrong_key", "loose_key", "corrupt", "garbage_header"])
def test_refuses_to_start_and_leaves_the_database_untouched(daemon_factory, damage):
    d = daemon_factory()
    d.start()
    d.ctl("status")
    assert d.stop() == 0
    db = d.state / "privstack.db"
    key = d.state / "store.key"
    needle = {"missing_key": "is missing but the database", "wrong_key": "does not decrypt",
              "loose_key": "chmod 600", "corrupt": "does not decrypt", "garbage_header": "does not decrypt"}[damage]
    if damage == "missing_key":
        key.unlink()
        d.init_store_key = lambda: None
    elif damage == "wrong_key":
        key.unlink()
        fresh_key(d, key)
    elif damage == "loose_key":
        key.chmod(0o644)
    elif damage == "corrupt":
        data = bytearray(db.read_bytes())
        for i in range(0, 4096):
            data[i] ^= 0x5A
        db.write_bytes(bytes(data))
    elif damage == "garbage_header":
        db.write_bytes(os.urandom(db.stat().st_size))
    os.utime(db, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    before = snapshot(db)
    others_before = sorted(p.name for p in d.state.iterdir())
    expect_refusal(d, needle)
    assert snapshot(db) == before
    assert sorted(p.name for p in d.state.iterdir()) == others_before


def test_newer_schema_is_refused(daemon_factory):
    d = daemon_factory()
    d.start()
    assert d.stop() == 0
    db, key = d.state / "privstack.db", d.state / "store.key"
    # Record a future version of the store's own schema through the library.
    r = run_tool("bump-schema", db, key, check=False)
    if r.returncode == 2:
        pytest.skip("store_testtool without bump-schema")
    assert r.returncode == 0, r.stderr
    before = snapshot(db)
    expect_refusal(d, "newer privstack")
    assert snapshot(db) == before


def test_no_plaintext_in_the_state_directory(daemon_factory):
    d = daemon_factory()
    d.start()
    assert d.stop() == 0
    db, key = d.state / "privstack.db", d.state / "store.key"
    # Rows committed to the WAL and left there, as after a crash.
    run_tool("fill", db, key, 5000, MARKER, "--no-close")
    assert (d.state / "privstack.db-wal").stat().st_size > 0
    assert scan_for_plaintext(d.state) == []
    # Checkpointed into the main file (a clean close checkpoints).
    assert run_tool("count", db, key, MARKER).stdout.strip() == "5000"
    assert scan_for_plaintext(d.state) == []
    # And with the daemon using it, after its integrity check and a rekey.
    d.start()
    assert "ok: true" in d.ctl("store", "check").stdout
    d.ctl("store", "rekey")
    assert scan_for_plaintext(d.state) == []
    assert d.stop() == 0
    assert scan_for_plaintext(d.state) == []
    assert run_tool("count", db, key, MARKER).stdout.strip() == "5000"


def test_online_rekey(daemon):
    key = daemon.state / "store.key"
    old = key.read_text()
    r = daemon.ctl("--json", "store", "rekey")
    assert '"key_file"' in r.stdout
    assert key.read_text() != old and len(key.read_text().strip()) == 64
    assert key.stat().st_mode & 0o777 == 0o600
    assert not (daemon.state / "store.key.new").exists()
    assert "ok: true" in daemon.ctl("store", "check").stdout
    assert "store.rekeyed" in daemon.read_log()
    assert daemon.stop() == 0
    daemon.start()
    assert "ok: true" in daemon.ctl("store", "check").stdout


def test_offline_rekey_refused_while_daemon_runs(daemon):
    r = subprocess.run([str(PRIVSTACKCTL), "store", "rekey", "--offline", "--config", str(daemon.config_path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert "stop privstackd" in r.stderr
    assert "ok: true" in daemon.ctl("store", "check").stdout


ROWS = 30000


@pytest.fixture
def pristine(daemon_factory, tmp_path):
    """A stopped daemon's state with a store of ROWS rows, and a copy of it."""
    d = daemon_factory()
    d.start()
    assert d.stop() == 0
    run_tool("fill", d.state / "privstack.db", d.state / "store.key", ROWS, MARKER)
    copy = tmp_path / "pristine"
    shutil.copytree(d.state, copy)
    return d, copy


def restore(d, copy):
    shutil.rmtree(d.state)
    shutil.copytree(copy, d.state)


def verify_opens(d, old_key):
    """The database opens (old or new key) with all rows; returns which key."""
    key = d.state / "store.key"
    pending = d.state / "store.key.new"
    r = run_tool("count", d.state / "privstack.db", key, MARKER, check=False)
    assert r.returncode == 0, f"database does not open after the kill: {r.stderr}"
    assert r.stdout.strip() == str(ROWS)
    assert not pending.exists()
    return "old" if key.read_text() == old_key else "new"


def test_rekey_killed_at_every_step(pristine):
    d, copy = pristine
    old_key = (copy / "store.key").read_text()
    outcomes = {}
    for step in range(1, 6):
        restore(d, copy)
        r = run_tool("rekey", d.state / "privstack.db", d.state / "store.key", "--crash-at", step, check=False)
        assert r.returncode == -signal.SIGKILL, (step, r.returncode, r.stderr)
        outcomes[step] = verify_opens(d, old_key)
    # Before the commit the old key stays; after it, the new one.
    assert outcomes == {1: "old", 2: "old", 3: "new", 4: "new", 5: "new"}, outcomes


def test_rekey_killed_at_random_points(pristine):
    d, copy = pristine
    old_key = (copy / "store.key").read_text()
    cmd = [str(PRIVSTACKCTL), "store", "rekey", "--offline", "--config", str(d.config_path)]
    # How long an uninterrupted offline rekey takes here.
    restore(d, copy)
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    total = time.monotonic() - t0
    assert verify_opens(d, old_key) == "new"
    rng = random.Random(1234)
    points = [total * i / 30 for i in range(31)] + [rng.uniform(0, total) for _ in range(10)]
    outcomes = {"old": 0, "new": 0}
    for delay in points:
        restore(d, copy)
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        outcomes[verify_opens(d, old_key)] += 1
    # The calibration ran once; under load (the ASan build, parallel tests) a
    # later rekey can be slower, so kill later and later until one finished.
    delay = total
    while outcomes["new"] == 0 and delay < 30 * total + 5:
        delay *= 1.5
        restore(d, copy)
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        outcomes[verify_opens(d, old_key)] += 1
    print("rekey kill outcomes:", outcomes, "rekey time", total)
    assert outcomes["old"] > 0 and outcomes["new"] > 0
    # The daemon starts on the result of the last interruption.
    d.start()
    assert "ok: true" in d.ctl("store", "check").stdout
    assert d.stop() == 0


def test_daemon_killed_during_online_rekey(pristine):
    d, copy = pristine
    old_key = (copy / "store.key").read_text()
    outcomes = {"old": 0, "new": 0}
    for delay in (0.0, 0.02, 0.05, 0.1, 0.2, 0.4):
        restore(d, copy)
        d.start()
        p = subprocess.Popen([str(PRIVSTACKCTL), "--socket", str(d.socket), "store", "rekey"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(delay)
        d.proc.send_signal(signal.SIGKILL)
        d.proc.wait()
        p.wait(timeout=30)
        d.notify.close()
        d.notify = None
        outcomes[verify_opens(d, old_key)] += 1
    print("online rekey kill outcomes:", outcomes)

"""Backup faults not covered by test_backup_interrupted.py, against the real
daemon: privstackd killed with SIGKILL during the snapshot phase, then a clean
next run; and the disk holding backup.local_directory (a real tmpfs mounted
for the test) full during the snapshot: a clear error, no partial file, older
archives untouched, the daemon keeps serving."""
import json
import os
import subprocess
import time

import pytest

from conftest import BUILD_DIR, Daemon

TOOL = BUILD_DIR / "daemon" / "backup" / "backup_testtool"
SEED = BUILD_DIR / "daemon" / "records" / "audit_testtool"
CTL = BUILD_DIR / "daemon" / "privstackctl"


def tool(*args):
    r = subprocess.run([str(TOOL), *map(str, args)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def recovery(tmp_path_factory):
    d = tmp_path_factory.mktemp("recovery")
    tool("keygen", d / "recovery.pem", d / "recovery.pub")
    return d


def make_daemon(tmp_path, recovery, rows, local_directory=None):
    (tmp_path / "d").mkdir()
    d = Daemon(tmp_path / "d")
    subprocess.run([str(SEED), d.state / "privstack.db", d.state / "store.key", "seed-records", str(rows)],
                   check=True, capture_output=True, timeout=300)
    pub = "\n".join("    " + l for l in (recovery / "recovery.pub").read_text().strip().splitlines())
    local = f"  local_directory: {local_directory}\n" if local_directory else ""
    d.write_config(f"""backup:
  schedule: "off"
  verify_schedule: "off"
{local}  recovery_public_key: |
{pub}
""")
    return d


def start_backup(d):
    return subprocess.Popen([str(CTL), "--socket", str(d.socket), "--json", "backup", "run"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_phase(d, phase, timeout=120):
    deadline = time.monotonic() + timeout
    seen = []
    while time.monotonic() < deadline:
        r = d.ctl("--json", "backup", "list", check=False)
        if r.returncode == 0:
            running = json.loads(r.stdout).get("running")
            if running:
                seen.append(running["phase"])
                if running["phase"] == phase:
                    return
        time.sleep(0.02)
    raise AssertionError(f"the backup never reached phase {phase!r}; phases seen: {sorted(set(seen))}")


def leftovers(d, backups):
    names = [p.name for p in backups.iterdir()] if backups.exists() else []
    return ([n for n in names if n.startswith(".")],
            [p.name for p in d.state.iterdir() if p.name.startswith("privstack-verify-")])


def test_killed_during_the_snapshot_then_a_clean_run(tmp_path, recovery):
    d = make_daemon(tmp_path, recovery, rows=200_000)
    backups = d.state / "backups"
    d.start()
    run = start_backup(d)
    wait_for_phase(d, "snapshot")
    d.proc.kill()  # SIGKILL: no cleanup of any kind
    d.proc.wait()
    d.stop()
    run.wait(timeout=30)
    assert not [p for p in backups.glob("*.psbak")] if backups.exists() else True, \
        "the snapshot was killed before any archive could be complete"
    d.start()
    try:
        out = json.loads(d.ctl("--json", "backup", "run").stdout)
        assert out["test_restore"]["ok"] is True
        assert leftovers(d, backups) == ([], []), leftovers(d, backups)
        listed = json.loads(d.ctl("--json", "backup", "list").stdout)["backups"]
        assert [b["id"] for b in listed] == [out["id"]] and listed[0]["good"]
        assert json.loads(d.ctl("--json", "store", "check").stdout)["ok"]
        assert json.loads(d.ctl("--json", "audit", "verify").stdout)["ok"]
    finally:
        assert d.stop() == 0


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,mode=0700", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"cannot mount a tmpfs (the test needs root): {r.stderr}"
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_disk_full_during_the_snapshot(tmp_path, recovery, small_disk):
    backups = small_disk / "backups"
    d = make_daemon(tmp_path, recovery, rows=50_000, local_directory=backups)
    d.start()
    try:
        first = json.loads(d.ctl("--json", "backup", "run").stdout)
        old = backups / (first["id"] + ".psbak")
        old_bytes = old.read_bytes()
        before = sorted(p.name for p in backups.iterdir())
        assert first["archive_bytes"] > 64 * 1024, "the archive must not fit in what is left"
        # Leave far less than an archive's size free.
        st = os.statvfs(small_disk)
        with open(small_disk / "ballast", "wb") as f:
            f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - 16 * 1024))
        r = d.ctl("--json", "backup", "run", check=False)
        assert r.returncode != 0, r.stdout
        err = (r.stdout + r.stderr).lower()
        assert "no space left on device" in err and str(backups) in err, r.stdout + r.stderr
        assert leftovers(d, backups) == ([], []), leftovers(d, backups)
        assert sorted(p.name for p in backups.iterdir()) == before
        assert old.read_bytes() == old_bytes
        # The daemon keeps serving, over HTTPS too, and says the backup is degraded.
        assert d.proc.poll() is None
        status, _, body = d.https("GET", "/healthz")
        health = json.loads(body)
        assert health["components"]["listener"]["state"] == "ok", health
        assert health["components"]["backup"]["state"] == "degraded", health
        assert json.loads(d.ctl("--json", "store", "check").stdout)["ok"]
        listed = json.loads(d.ctl("--json", "backup", "list").stdout)["backups"]
        assert [b["id"] for b in listed] == [first["id"]] and listed[0]["good"]
        # Space back: the next run succeeds.
        (small_disk / "ballast").unlink()
        again = json.loads(d.ctl("--json", "backup", "run").stdout)
        assert again["test_restore"]["ok"] is True
    finally:
        assert d.stop() == 0

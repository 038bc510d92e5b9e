"""Backups interrupted by real faults, against the real daemon and a real S3
server (Ceph RGW via scripts/s3-server): privstackd killed with SIGKILL
during the test restore and during the upload, the S3 server frozen
(SIGSTOP) in the middle of an upload and then back, and a multipart upload
left open by a crash. Each time the next run must succeed and leave no
partial file, scratch store or open multipart upload behind."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BUILD_DIR, SOURCE_DIR, Daemon
from s3config import s3_backup_yaml

TOOL = BUILD_DIR / "daemon" / "backup" / "backup_testtool"
SEED = BUILD_DIR / "daemon" / "records" / "audit_testtool"
CTL = BUILD_DIR / "daemon" / "privstackctl"
SCRIPT = SOURCE_DIR / "scripts" / "s3-server"
PREFIX = "crashy"


def tool(env, *args):
    r = subprocess.run([str(TOOL), *map(str, args)], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def recovery(tmp_path_factory):
    d = tmp_path_factory.mktemp("recovery")
    tool(os.environ, "keygen", d / "recovery.pem", d / "recovery.pub")
    return d


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    if shutil.which("radosgw") is None:
        pytest.fail("radosgw is not installed (scripts/setup installs it)")
    state = tmp_path_factory.mktemp("s3server")
    env = dict(os.environ, S3_SERVER_DIR=str(state / "ceph"), S3_PORT=str(_free_port()),
               S3_MON_PORT=str(_free_port()))
    out = subprocess.run([str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for line in out.stdout.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value
    env["S3_BUCKET"] = "privstack-crash"
    tool(env, "s3", "mb")
    env["RGW_PID"] = (state / "ceph" / "run" / "client.rgw.a.pid").read_text().strip()
    try:
        yield env
    finally:
        os.kill(int(env["RGW_PID"]), signal.SIGCONT)
        subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, timeout=120)


def make_daemon(tmp_path, recovery, s3=None, rows=100_000, seed="seed-records"):
    """A daemon over a seeded store (a test restore of a few seconds)."""
    (tmp_path / "d").mkdir()
    d = Daemon(tmp_path / "d")
    subprocess.run([str(SEED), d.state / "privstack.db", d.state / "store.key", seed, str(rows)],
                   check=True, capture_output=True)
    pub = "\n".join("    " + l for l in (recovery / "recovery.pub").read_text().strip().splitlines())
    extra = f"""backup:
  schedule: "off"
  verify_schedule: "off"
  recovery_public_key: |
{pub}
"""
    if s3 is not None:
        extra += s3_backup_yaml(s3, tmp_path, PREFIX)
    d.write_config(extra)
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
        time.sleep(0.05)
    raise AssertionError(f"the backup never reached phase {phase!r}; phases seen: {sorted(set(seen))}")


def leftovers(d):
    backups = d.state / "backups"
    names = [p.name for p in backups.iterdir()] if backups.exists() else []
    return ([n for n in names if n.startswith(".")],
            [p.name for p in d.state.iterdir() if p.name.startswith("privstack-verify-")])


def crash(d):
    d.proc.kill()  # SIGKILL: no cleanup of any kind
    d.proc.wait()
    d.stop()


def object_keys(s3):
    return [l.split()[0] for l in tool(s3, "s3", "list", PREFIX + "/").splitlines()]


def next_run_aborts_and_ships(d, s3, stale_key):
    """The run after a crash: it aborts the multipart upload `stale_key` was
    left with, ships its own archive and leaves nothing behind. Returns it."""
    d.start()
    try:
        out = json.loads(d.ctl("--json", "backup", "run").stdout)
        assert out["upload"]["state"] == "uploaded", out["upload"]
        assert stale_key in out["upload"].get("aborted_stale_uploads", []), out["upload"]
        assert tool(s3, "s3", "uploads", PREFIX + "/").strip() == ""
        keys = object_keys(s3)
        assert out["upload"]["key"] in keys and stale_key not in keys, keys
        assert leftovers(d) == ([], []), leftovers(d)
        doc = json.loads(d.ctl("--json", "backup", "verify", "all").stdout)
        assert doc["damaged"] == 0 and any(a["place"] == "s3" for a in doc["archives"]), doc
        return out
    finally:
        assert d.stop() == 0


def test_killed_during_the_test_restore_then_a_clean_run(tmp_path, recovery):
    d = make_daemon(tmp_path, recovery)
    d.start()
    run = start_backup(d)
    wait_for_phase(d, "test restore")
    # The phase is announced just before the scratch store is created: wait
    # for the store itself, or a quick kill finds nothing to clean up.
    deadline = time.monotonic() + 60
    while not leftovers(d)[1]:
        assert time.monotonic() < deadline, "the test restore never created its scratch store"
        time.sleep(0.01)
    crash(d)
    run.wait(timeout=30)
    partial, scratch = leftovers(d)
    assert partial and scratch, "the kill should have left a partial archive and a scratch store"
    d.start()
    try:
        out = json.loads(d.ctl("--json", "backup", "run").stdout)
        assert out["test_restore"]["ok"] is True
        assert leftovers(d) == ([], []), leftovers(d)
        listed = json.loads(d.ctl("--json", "backup", "list").stdout)["backups"]
        assert [b["id"] for b in listed] == [out["id"]] and listed[0]["good"]
        assert json.loads(d.ctl("--json", "store", "check").stdout)["ok"]
        assert json.loads(d.ctl("--json", "audit", "verify").stdout)["ok"]
    finally:
        assert d.stop() == 0


def test_parts_go_out_before_the_test_restore_ends_but_nothing_is_published_until_it_passed(tmp_path, recovery,
                                                                                             s3):
    """The upload follows the archive as it is written (follow_upload.h): its
    multipart upload is open, with parts in the bucket, while the test
    restore still runs, and yet no object exists until the test restore
    passed. Killed at that moment, the run leaves an open multipart upload
    and no object; the next run aborts the upload and ships its own archive."""
    # 300,000 results (a test restore of several seconds) and 6,000
    # recipients of random text (an archive of over 20 MiB: three parts).
    d = make_daemon(tmp_path, recovery, s3, rows=300_000)
    subprocess.run([str(SEED), d.state / "privstack.db", d.state / "store.key", "seed-noise", "6000", "1000000"],
                   check=True, capture_output=True)
    d.start()
    run = start_backup(d)
    wait_for_phase(d, "test restore")
    open_uploads, objects = [], []
    deadline = time.monotonic() + 60
    while not open_uploads:
        assert time.monotonic() < deadline, "no multipart upload was opened during the test restore"
        open_uploads = tool(s3, "s3", "uploads", PREFIX + "/").split()
        objects = object_keys(s3)
        # The phase checked after the listings: what they saw was the
        # bucket while the test restore still ran.
        running = json.loads(d.ctl("--json", "backup", "list").stdout).get("running") or {}
        assert running.get("phase") == "test restore", f"the test restore ended before any part was sent: {running}"
        time.sleep(0.05)
    crash(d)
    run.wait(timeout=30)
    crashed_key = open_uploads[0]
    assert crashed_key.startswith(PREFIX + "/") and crashed_key.endswith(".psbak"), open_uploads
    assert crashed_key not in objects, f"{crashed_key} was published before its test restore passed"
    out = next_run_aborts_and_ships(d, s3, crashed_key)
    assert out["archive_bytes"] > 16 * 2**20, out["archive_bytes"]


def test_killed_during_the_upload_then_a_clean_run(tmp_path, recovery, s3):
    # What an earlier crash in the middle of a multipart upload leaves.
    stale_key = f"{PREFIX}/20200101T000000Z-0badc0de.psbak"
    tool(s3, "s3", "start-upload", stale_key)
    assert stale_key in tool(s3, "s3", "uploads", PREFIX + "/")
    d = make_daemon(tmp_path, recovery, s3)
    d.start()
    rgw = int(s3["RGW_PID"])
    os.kill(rgw, signal.SIGSTOP)  # the upload cannot finish while frozen
    try:
        run = start_backup(d)
        wait_for_phase(d, "uploading")
        time.sleep(0.5)
        crash(d)
        run.wait(timeout=30)
    finally:
        os.kill(rgw, signal.SIGCONT)
    next_run_aborts_and_ships(d, s3, stale_key)


def test_server_frozen_mid_upload_then_back(tmp_path, recovery, s3):
    d = make_daemon(tmp_path, recovery, s3)
    d.start()
    rgw = int(s3["RGW_PID"])
    try:
        os.kill(rgw, signal.SIGSTOP)
        try:
            # The listing answers with the bucket's state after one attempt
            # at the listing timeout (10 s), not after the upload's retries.
            t = time.monotonic()
            doc = json.loads(d.ctl("--json", "backup", "list").stdout)
            took = time.monotonic() - t
            assert took < 20, f"backup list took {took:.1f} s with the server frozen"
            assert doc["off_site"].get("error"), doc["off_site"]
            run = start_backup(d)
            wait_for_phase(d, "uploading")
            time.sleep(3)  # the request is in flight to a server that does not answer
        finally:
            os.kill(rgw, signal.SIGCONT)
        stdout, stderr = run.communicate(timeout=180)
        assert run.returncode == 0, stderr
        out = json.loads(stdout)
        assert out["upload"]["state"] == "uploaded", out["upload"]
        head = tool(s3, "s3", "head", out["upload"]["key"]).split()
        assert int(head[0]) == out["archive_bytes"]
        assert leftovers(d) == ([], [])
        assert "backup.upload_failed" not in d.read_log()
    finally:
        assert d.stop() == 0


def test_stop_during_a_backup_cancels_it_promptly(tmp_path, recovery):
    """SIGTERM (systemctl stop, a package upgrade) while a backup of a large
    store runs: the run is cancelled at its next chunk instead of holding
    the stop for the whole snapshot and test restore (seconds here, minutes
    for a large store, past systemd's stop timeout); nothing partial is
    left, and the next run is clean."""
    d = make_daemon(tmp_path, recovery, rows=400_000)
    d.start()
    run = start_backup(d)
    wait_for_phase(d, "snapshot")
    time.sleep(0.3)
    t0 = time.monotonic()
    d.proc.send_signal(signal.SIGTERM)
    d.proc.wait(60)
    stopped_in = time.monotonic() - t0
    assert d.proc.returncode == 0, d.read_log()[-3000:]
    assert stopped_in < 3, f"the stop took {stopped_in:.1f} s"
    d.stop()
    run.wait(timeout=30)
    assert "cancelled: privstackd is stopping" in d.read_log()
    assert leftovers(d) == ([], []), leftovers(d)
    d.start()
    try:
        t1 = time.monotonic()
        out = json.loads(d.ctl("--json", "backup", "run").stdout)
        full_run = time.monotonic() - t1
        assert out["test_restore"]["ok"] is True
        # What the stop would have waited for without the cancellation.
        assert full_run > 2 * stopped_in, (full_run, stopped_in)
        assert json.loads(d.ctl("--json", "audit", "verify").stdout)["ok"]
    finally:
        assert d.stop() == 0

"""The control socket: privstackctl's protocol, output modes, exit codes,
and the peer check (SO_PEERCRED) that refuses other local users."""
import json
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import PRIVSTACKCTL


def test_status_human_and_json(daemon):
    r = daemon.ctl("status")
    assert r.stdout.startswith("privstackd ")
    assert f"https://127.0.0.1:{daemon.port}" in r.stdout
    assert "listener" in r.stdout and "certificate" in r.stdout
    doc = json.loads(daemon.ctl("--json", "status").stdout)
    # The fixture's daemon has no backup.recovery_public_key, so it cannot
    # back up: degraded for that reason alone.
    assert doc["status"] == "degraded"
    assert {n for n, c in doc["components"].items() if c["state"] != "ok"} == {"backup"}, doc["components"]
    assert doc["pid"] == daemon.proc.pid
    assert doc["components"]["listener"]["state"] == "ok"
    assert doc["uptime_seconds"] >= 0


def test_socket_is_0660(daemon):
    assert stat.S_IMODE(os.stat(daemon.socket).st_mode) == 0o660


def test_usage_errors_exit_2(daemon):
    r = daemon.ctl("frobnicate", check=False)
    assert r.returncode == 2 and "unknown command 'frobnicate'" in r.stderr
    r = daemon.ctl("status", "extra", check=False)
    assert r.returncode == 2
    r = subprocess.run([str(PRIVSTACKCTL)], capture_output=True, text=True)
    assert r.returncode == 2 and "Usage:" in r.stderr
    r = subprocess.run([str(PRIVSTACKCTL), "--help"], capture_output=True, text=True)
    assert r.returncode == 0 and "status" in r.stdout


def test_unreachable_daemon_is_a_clear_failure(tmp_path):
    r = subprocess.run([str(PRIVSTACKCTL), "--socket", str(tmp_path / "none.sock"), "status"],
                       capture_output=True, text=True)
    assert r.returncode == 1
    assert "is privstackd running?" in r.stderr


def test_socket_from_environment(daemon):
    env = dict(os.environ, PRIVSTACK_SOCKET=str(daemon.socket))
    r = subprocess.run([str(PRIVSTACKCTL), "status"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr


def test_other_local_users_are_refused_by_peer_credentials(daemon_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root to run a client as another user")
    nobody = pwd.getpwnam("nobody")
    # The socket goes in a directory other users can traverse, and its mode
    # is opened, so that only the daemon's SO_PEERCRED check stands between
    # the user and the daemon.
    public = Path(tempfile.mkdtemp(prefix="privstack-ctl-"))
    os.chmod(public, 0o755)
    daemon = daemon_factory("peer")
    daemon.socket = public / "control.sock"
    daemon.write_config()
    daemon.start()
    os.chmod(daemon.socket, 0o666)
    ctl = public / "privstackctl"
    shutil.copy(PRIVSTACKCTL, ctl)
    os.chmod(ctl, 0o755)
    r = subprocess.run(["setpriv", f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups",
                        str(ctl), "--socket", str(daemon.socket), "status"], capture_output=True, text=True)
    assert r.returncode == 1
    assert "permission denied" in r.stderr
    assert "control.denied" in daemon.read_log()
    assert f"PRIVSTACK_PEER_UID={nobody.pw_uid}" in daemon.read_log()
    # Root is still served.
    assert daemon.ctl("status").returncode == 0
    assert daemon.stop() == 0
    shutil.rmtree(public)

"""The real S3 server of the backup tests: Ceph's RADOS Gateway on loopback,
started by scripts/s3-server on free ports in a temporary directory."""
import contextlib
import os
import shutil
import socket
import subprocess
from pathlib import Path

SOURCE_DIR = Path(os.environ.get("PRIVSTACK_SOURCE_DIR", Path(__file__).resolve().parents[3]))
SCRIPT = SOURCE_DIR / "scripts" / "s3-server"
AWS = "/usr/bin/aws"  # Debian's awscli (another aws may come first on PATH)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def s3_server(state_dir):
    """Yields the environment of a running RGW (S3_ENDPOINT, AWS_* and
    RGW_PID); stops it and wipes its state on exit."""
    if shutil.which("radosgw") is None:
        raise AssertionError("radosgw is not installed (scripts/setup installs it)")
    env = dict(os.environ, S3_SERVER_DIR=str(Path(state_dir) / "ceph"), S3_PORT=str(free_port()),
               S3_MON_PORT=str(free_port()), AWS_EC2_METADATA_DISABLED="true")
    out = subprocess.run([str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    try:
        for line in out.stdout.splitlines():
            key, _, value = line.removeprefix("export ").partition("=")
            env[key] = value
        env["RGW_PID"] = (Path(state_dir) / "ceph" / "run" / "client.rgw.a.pid").read_text().strip()
        yield env
    finally:
        subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, timeout=120)


def aws(env, *args, check=True):
    """Debian's awscli against the server in env (not through any proxy)."""
    r = subprocess.run([AWS, "--endpoint-url", env["S3_ENDPOINT"], "--output", "json", *args],
                       env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert r.returncode == 0, r.stderr
    return r

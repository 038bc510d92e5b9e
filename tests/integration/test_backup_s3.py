"""The S3 client and the archive format against a real S3 server: Ceph's
RADOS Gateway on loopback, started by scripts/s3-server (one per module run,
on free ports, in a temporary directory)."""
import datetime
import hashlib
import json
import os
import random
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import BUILD_DIR, SOURCE_DIR

TOOL = BUILD_DIR / "daemon" / "backup" / "backup_testtool"
SCRIPT = SOURCE_DIR / "scripts" / "s3-server"
AWS = "/usr/bin/aws"  # Debian's awscli (another aws may come first on PATH)

pytestmark = pytest.mark.skipif(shutil.which("radosgw") is None,
                                reason="radosgw is not installed (scripts/setup installs it)")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    state = tmp_path_factory.mktemp("s3server")
    env = dict(os.environ, S3_SERVER_DIR=str(state / "ceph"), S3_PORT=str(_free_port()),
               S3_MON_PORT=str(_free_port()))
    out = subprocess.run([str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for line in out.stdout.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value
    env["S3_BUCKET"] = "privstack-backups"
    env["S3_BACKOFF_MS"] = "50"
    try:
        assert subprocess.run([str(TOOL), "s3", "mb"], env=env, capture_output=True).returncode == 0
        yield env
    finally:
        subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, timeout=120)


def tool(env, *args, check=True):
    r = subprocess.run([str(TOOL), *map(str, args)], env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert r.returncode == 0, r.stderr
    return r


def _payload(path, size):
    rng = random.Random(size)
    with open(path, "w") as f:
        written = 0
        while written < size:
            line = f"INSERT INTO records VALUES({rng.getrandbits(48)},'{rng.getrandbits(64):x}');\n"
            f.write(line)
            written += len(line)


@pytest.fixture(scope="module")
def archive(tmp_path_factory):
    d = tmp_path_factory.mktemp("archive")
    tool(os.environ, "keygen", d / "recovery.pem", d / "recovery.pub")
    _payload(d / "dump.sql", 24 * 1024 * 1024)
    tool(os.environ, "archive-write", d / "recovery.pub", d / "dump.sql", d / "a.psbak")
    return d


def test_archive_round_trip_through_the_bucket_multipart(s3, archive, tmp_path):
    size = (archive / "a.psbak").stat().st_size
    assert size > 5 * 1024 * 1024  # so that 5 MiB parts make a real multipart upload (2+ parts)
    out = tool(s3, "s3", "upload", "privstack/a.psbak", archive / "a.psbak", 5).stdout
    assert int(out) == size
    head = tool(s3, "s3", "head", "privstack/a.psbak").stdout.split()
    assert int(head[0]) == size and head[1].endswith(f"-{(size + 5 * 2**20 - 1) // (5 * 2**20)}")
    listing = tool(s3, "s3", "list", "privstack/").stdout.split("\n")
    assert any(line.startswith(f"privstack/a.psbak {size} ") for line in listing)
    assert tool(s3, "s3", "uploads", "privstack/").stdout == ""  # nothing left behind
    tool(s3, "s3", "get", "privstack/a.psbak", tmp_path / "back.psbak")
    tool(s3, "archive-read", archive / "recovery.pem", tmp_path / "back.psbak", tmp_path / "dump.sql")
    assert (tmp_path / "dump.sql").read_bytes() == (archive / "dump.sql").read_bytes()


def test_small_object_single_put_and_delete(s3, tmp_path):
    (tmp_path / "f").write_bytes(b"x" * 1000)
    assert tool(s3, "s3", "upload", "small/f", tmp_path / "f").stdout.strip() == "1000"
    assert tool(s3, "s3", "head", "small/f").stdout.split() == ["1000", hashlib.md5(b"x" * 1000).hexdigest()]
    tool(s3, "s3", "delete", "small/f")
    assert tool(s3, "s3", "head", "small/f", check=False).returncode == 1
    assert tool(s3, "s3", "list", "small/").stdout == ""


def test_wrong_signature_rejected(s3):
    bad = dict(s3, AWS_SECRET_ACCESS_KEY="not-the-secret", S3_MAX_ATTEMPTS="1")
    r = tool(bad, "s3", "list", "", check=False)
    assert r.returncode == 1
    assert "HTTP 403 SignatureDoesNotMatch" in r.stderr


def test_region_outside_allowed_regions_refused(s3, tmp_path):
    (tmp_path / "f").write_bytes(b"data")
    r = tool(dict(s3, S3_ALLOWED_REGIONS="eu-central-1,eu-west-1"), "s3", "put", "x", tmp_path / "f", check=False)
    assert r.returncode == 1
    assert 'refusing to ship backups to region "us-east-1"' in r.stderr
    assert "backup.allowed_regions" in r.stderr
    assert tool(s3, "s3", "head", "x", check=False).returncode == 1  # nothing was sent


@pytest.mark.parametrize("damage", ["flip", "truncate", "append"])
def test_damaged_archive_from_the_bucket_refused_and_nothing_written(s3, archive, tmp_path, damage):
    data = bytearray((archive / "a.psbak").read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 1
    elif damage == "truncate":
        del data[len(data) - 100:]
    else:
        data += b"more"
    (tmp_path / "bad.psbak").write_bytes(bytes(data))
    tool(s3, "s3", "put", f"damaged/{damage}", tmp_path / "bad.psbak")
    tool(s3, "s3", "get", f"damaged/{damage}", tmp_path / "got.psbak")
    r = tool(s3, "archive-read", archive / "recovery.pem", tmp_path / "got.psbak", tmp_path / "out.sql", check=False)
    assert r.returncode == 1
    expected = {"flip": "failed authentication", "truncate": "truncated", "append": "after the final chunk"}[damage]
    assert expected in r.stderr
    assert not (tmp_path / "out.sql").exists() and not (tmp_path / "out.sql.partial").exists()


@pytest.mark.skipif(not Path(AWS).exists(), reason="Debian's awscli is not installed")
def test_objects_readable_by_aws_cli(s3, archive, tmp_path):
    tool(s3, "s3", "upload", "interop/a.psbak", archive / "a.psbak", 5)
    env = dict(s3, AWS_EC2_METADATA_DISABLED="true")
    subprocess.run([AWS, "--endpoint-url", s3["S3_ENDPOINT"], "s3", "cp", "s3://privstack-backups/interop/a.psbak",
                    str(tmp_path / "a.psbak")], env=env, check=True, capture_output=True, timeout=300)
    assert (tmp_path / "a.psbak").read_bytes() == (archive / "a.psbak").read_bytes()
    # And the other way round: what aws uploaded, our client reads.
    subprocess.run([AWS, "--endpoint-url", s3["S3_ENDPOINT"], "s3", "cp", str(archive / "a.psbak"),
                    "s3://privstack-backups/interop/by-aws.psbak"], env=env, check=True, capture_output=True,
                   timeout=300)
    tool(s3, "s3", "get", "interop/by-aws.psbak", tmp_path / "b.psbak")
    tool(s3, "archive-read", archive / "recovery.pem", tmp_path / "b.psbak", tmp_path / "dump.sql")
    assert (tmp_path / "dump.sql").read_bytes() == (archive / "dump.sql").read_bytes()


def aws(env, *args, check=True):
    r = subprocess.run([AWS, "--endpoint-url", env["S3_ENDPOINT"], "--output", "json", *args],
                       env=dict(env, AWS_EC2_METADATA_DISABLED="true"), capture_output=True, text=True, timeout=300)
    if check:
        assert r.returncode == 0, r.stderr
    return r


@pytest.mark.skipif(not Path(AWS).exists(), reason="Debian's awscli is not installed")
def test_object_lock_keeps_archives_from_a_compromised_appliance(s3, archive, tmp_path):
    """backup.s3.object_lock: each archive (single PUT and multipart) is
    written with a COMPLIANCE retain-until date; the appliance's own
    credentials can then hide it (a delete marker) but not destroy it."""
    locked = dict(s3, S3_BUCKET="privstack-locked", S3_LOCK_DAYS="2", S3_LOCK_MODE="COMPLIANCE")
    aws(locked, "s3api", "create-bucket", "--bucket", "privstack-locked", "--object-lock-enabled-for-bucket")
    (tmp_path / "small.psbak").write_bytes(os.urandom(4096))
    tool(locked, "s3", "upload", "p/small.psbak", tmp_path / "small.psbak")
    tool(locked, "s3", "upload", "p/big.psbak", archive / "a.psbak", 5)  # multipart
    now = time.time()
    for key in ("p/small.psbak", "p/big.psbak"):
        ret = json.loads(aws(locked, "s3api", "get-object-retention", "--bucket", "privstack-locked",
                             "--key", key).stdout)["Retention"]
        assert ret["Mode"] == "COMPLIANCE", ret
        until = datetime.datetime.fromisoformat(ret["RetainUntilDate"].replace("Z", "+00:00")).timestamp()
        assert now + 2 * 86400 - 300 < until <= now + 2 * 86400 + 60, ret

    versions = json.loads(aws(locked, "s3api", "list-object-versions", "--bucket", "privstack-locked",
                              "--prefix", "p/big.psbak").stdout)["Versions"]
    version = versions[0]["VersionId"]
    # Destroying the locked version is refused, even with the writer's credentials...
    r = aws(locked, "s3api", "delete-object", "--bucket", "privstack-locked", "--key", "p/big.psbak",
            "--version-id", version, check=False)
    assert r.returncode != 0 and "AccessDenied" in r.stderr, r.stderr
    # ...a plain delete (what retention does) only adds a delete marker,
    tool(locked, "s3", "delete", "p/big.psbak")
    assert tool(locked, "s3", "head", "p/big.psbak", check=False).returncode == 1
    # and the archive is still there, whole, for whoever restores.
    aws(locked, "s3api", "get-object", "--bucket", "privstack-locked", "--key", "p/big.psbak",
        "--version-id", version, str(tmp_path / "kept.psbak"))
    assert (tmp_path / "kept.psbak").read_bytes() == (archive / "a.psbak").read_bytes()

    # Without Object Lock on the bucket, a locked upload is refused, not silently unprotected.
    r = tool(dict(s3, S3_LOCK_DAYS="2"), "s3", "upload", "p/refused.psbak", tmp_path / "small.psbak", check=False)
    assert r.returncode != 0 and r.stderr.strip(), r.stderr

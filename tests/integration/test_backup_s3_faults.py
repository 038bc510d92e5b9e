"""S3 server faults during a backup's upload, against the real daemon and a
real S3 server (Ceph RGW via scripts/s3-server) behind a fault-injecting
proxy (helpers/s3_fault_proxy.py: it only injects faults, RGW does the S3
work): 500, 503 and SlowDown answers, connections cut in the middle of a
part, slow answers and a lost answer to CompleteMultipartUpload. Each time
the client's retries must ship the archive whole (HEAD size, a byte-for-byte
download, the daemon's own `backup verify`) and leave no open multipart
upload. A fault that outlasts the retry budget must fail the upload clearly,
open an incident, ship nothing, and the next run must succeed once it
clears. A part that is never answered times out and is sent again. Then a
clock 20 minutes slow (libfaketime): RGW refuses the signature's time, the
client signs with the server's time and says so once. Last, the endpoint
over HTTPS: refused while its certificate is not trusted, shipped once
backup.s3.ca_file names its CA.

Every check of the bucket goes to RGW directly with Debian's awscli, not
through the proxy."""
import json
import os
import re
import ssl
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from authclient import ADMIN, ADMIN_PW, Client, add_user
from conftest import BUILD_DIR, Daemon
from helpers.certs import make_ca_and_server_cert
from helpers.s3_fault_proxy import Rule, S3FaultProxy
from helpers.s3server import aws, s3_server

TOOL = BUILD_DIR / "daemon" / "backup" / "backup_testtool"
SEED = BUILD_DIR / "daemon" / "records" / "audit_testtool"
BUCKET = "privstack-faults"
FAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
MAX_ATTEMPTS = 5  # S3Config::max_attempts
# 3,000 recipients with 4 KiB of random text: an archive of about 10 MiB,
# two 8 MiB parts, with a test restore of about a second.
NOISE_ROWS = 3000


@pytest.fixture(scope="module")
def recovery(tmp_path_factory):
    d = tmp_path_factory.mktemp("recovery")
    subprocess.run([str(TOOL), "keygen", d / "recovery.pem", d / "recovery.pub"], check=True, capture_output=True)
    return d


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with s3_server(tmp_path_factory.mktemp("s3server")) as env:
        aws(env, "s3api", "create-bucket", "--bucket", BUCKET)
        yield env


@pytest.fixture(scope="module")
def proxy(s3):
    p = S3FaultProxy("127.0.0.1", urlsplit(s3["S3_ENDPOINT"]).port)
    yield p
    p.close()


def make_daemon(workdir, recovery, s3, endpoint, prefix, s3_extra=""):
    workdir.mkdir()
    d = Daemon(workdir)
    subprocess.run([str(SEED), d.state / "privstack.db", d.state / "store.key", "seed-noise", str(NOISE_ROWS)],
                   check=True, capture_output=True, timeout=300)
    secret = workdir / "s3.secret"
    secret.write_text(s3["AWS_SECRET_ACCESS_KEY"] + "\n")
    secret.chmod(0o600)
    pub = "\n".join("    " + l for l in (recovery / "recovery.pub").read_text().strip().splitlines())
    d.write_config(f"""backup:
  schedule: "off"
  verify_schedule: "off"
  recovery_public_key: |
{pub}
  s3:
    endpoint: {endpoint}
    region: us-east-1
    bucket: {BUCKET}
    prefix: {prefix}
    access_key_id: {s3['AWS_ACCESS_KEY_ID']}
    secret_access_key_file: {secret}
    path_style: true
{s3_extra}""")
    return d


@pytest.fixture(scope="module")
def appliance(tmp_path_factory, recovery, s3, proxy):
    """One daemon for the fault tests (seeded once), shipping through the proxy."""
    d = make_daemon(tmp_path_factory.mktemp("appliance") / "d", recovery, s3, proxy.endpoint, "faults")
    d.start()
    add_user(d, ADMIN, "admin", ADMIN_PW)
    d.console = Client(d)
    assert d.console.login(ADMIN, ADMIN_PW)[0] == 201
    yield d
    assert d.stop() == 0, d.read_log()[-3000:]


def metrics(d):
    """GET /metrics (as the admin): {series: value}."""
    status, _, body = d.https("GET", "/metrics", headers={"Cookie": d.console.cookie})
    assert status == 200, body
    values = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            series, _, value = line.rpartition(" ")
            values[series] = float(value)
    return values


RETRIES = "privstack_backup_s3_retries_total"
FAILURES = "privstack_backup_failures_total"


def run_backup(d):
    return json.loads(d.ctl("--json", "backup", "run").stdout)


def open_uploads(s3):
    doc = aws(s3, "s3api", "list-multipart-uploads", "--bucket", BUCKET).stdout
    return json.loads(doc).get("Uploads", []) if doc.strip() else []


def listed(s3, prefix):
    doc = aws(s3, "s3api", "list-objects-v2", "--bucket", BUCKET, "--prefix", prefix + "/").stdout
    return {o["Key"]: o["Size"] for o in json.loads(doc).get("Contents", [])} if doc.strip() else {}


def assert_shipped_whole(s3, d, out, tmp_path):
    """The run's archive is in the bucket, complete, byte for byte, and
    nothing is left half-uploaded."""
    up = out["upload"]
    assert up["state"] == "uploaded", up
    head = json.loads(aws(s3, "s3api", "head-object", "--bucket", BUCKET, "--key", up["key"]).stdout)
    assert head["ContentLength"] == out["archive_bytes"] == up["bytes"], (head, out)
    aws(s3, "s3api", "get-object", "--bucket", BUCKET, "--key", up["key"], str(tmp_path / "remote.psbak"))
    assert (tmp_path / "remote.psbak").read_bytes() == Path(out["file"]).read_bytes()
    assert open_uploads(s3) == []
    # Every archive listed under the prefix is whole: its size is the one HEAD gives.
    for key, size in listed(s3, up["key"].split("/")[0]).items():
        h = json.loads(aws(s3, "s3api", "head-object", "--bucket", BUCKET, "--key", key).stdout)
        assert h["ContentLength"] == size > 0, (key, h)


# (id, rules, faults injected, retries the client must have made)
FAULTS = [
    ("500 on UploadPart", [Rule("UploadPart", "status", 500, first=2)], 2, 2),
    ("503 on UploadPart", [Rule("UploadPart", "status", 503, first=2)], 2, 2),
    ("SlowDown on every other UploadPart",
     [Rule("UploadPart", "status", 503, code="SlowDown", first=None, every=(1, 2))], 2, 2),
    ("SlowDown on CreateMultipartUpload", [Rule("CreateMultipartUpload", "status", 503, code="SlowDown")], 1, 1),
    ("500 on CompleteMultipartUpload", [Rule("CompleteMultipartUpload", "status", 500)], 1, 1),
    ("503 on the verifying HEAD", [Rule("HeadObject", "status", 503)], 1, 1),
    ("connection cut 1 MiB into a part", [Rule("UploadPart", "cut", cut_after=1 << 20, first=2)], 2, 2),
    ("connection cut before a part's body", [Rule("UploadPart", "cut", cut_after=0)], 1, 1),
    # RGW completed the upload; the client saw a 500 and asks again.
    ("answer to CompleteMultipartUpload lost", [Rule("CompleteMultipartUpload", "lose")], 1, 1),
    # Slow, not failed: the client waits (S3Config::timeout is 60 s) and sends nothing twice.
    ("UploadPart answers 2 s late", [Rule("UploadPart", "delay", delay=2.0, first=2)], 2, 0),
    # Silent: nothing read, nothing answered for longer than the 60 s timeout.
    # The client gives up on that attempt after 60 s without progress and
    # sends the part again (before the fix the timeout never fired: Asio's
    # synchronous reads waited on, whatever SO_RCVTIMEO said).
    ("UploadPart never answered", [Rule("UploadPart", "delay", delay=75.0)], 1, 1),
]


@pytest.mark.parametrize("rules,injected,retries", [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_fault_is_retried_and_the_archive_ships_whole(appliance, s3, proxy, tmp_path, rules, injected, retries):
    proxy.set_rules(*rules)
    log_before = len(appliance.read_log())
    retries_before = metrics(appliance).get(RETRIES, 0)
    t0 = time.monotonic()
    out = run_backup(appliance)
    took = time.monotonic() - t0
    stats = proxy.stats()
    proxy.clear()
    assert sum(stats["injected"].values()) == injected, stats
    assert stats["passed"].get(("UploadPart", 200), 0) >= 2, ("not a multipart upload", stats)
    assert_shipped_whole(s3, appliance, out, tmp_path)
    assert out["upload"]["retries"] == retries, (out["upload"], stats)
    log = appliance.read_log()[log_before:]
    assert log.count("backup.s3_retry:") == retries, log
    assert metrics(appliance).get(RETRIES, 0) - retries_before == retries
    assert "backup.upload_failed" not in log
    if rules[0].action == "delay" and retries == 0:
        # The run waited for the slow parts (sent side by side, so their
        # delays overlap) instead of giving up on them.
        assert took > rules[0].delay, took
    if rules[0].action == "delay" and retries:
        assert "timeout" in log.lower() or "timed out" in log.lower(), log
        assert 60 <= took < 120, took
    # The daemon's own check downloads the newest archive back and checks
    # it against the digest recorded at its test restore.
    doc = json.loads(appliance.ctl("--json", "backup", "verify", "all").stdout)
    assert doc["damaged"] == 0 and any(a["place"] == "s3" and a["id"] == out["id"] for a in doc["archives"]), doc


def test_fault_beyond_the_retry_budget_fails_clearly_then_the_next_run_ships(appliance, s3, proxy, tmp_path):
    proxy.set_rules(Rule("UploadPart", "status", 503, code="SlowDown", first=None))
    log_before = len(appliance.read_log())
    failures_before = metrics(appliance).get(FAILURES, 0)
    out = run_backup(appliance)
    stats = proxy.stats()
    up = out["upload"]
    assert up["state"] == "failed", up
    assert "HTTP 503 SlowDown" in up["error"] and f"gave up after {MAX_ATTEMPTS} attempts" in up["error"], up
    # Two parts are in flight at once: each makes its own 5 attempts.
    assert set(stats["injected"]) == {("UploadPart", "503 SlowDown")}, stats
    assert MAX_ATTEMPTS <= stats["injected"][("UploadPart", "503 SlowDown")] <= 2 * MAX_ATTEMPTS, stats
    # Nothing shipped: no object under the run's key, no upload left open
    # (the failed upload was aborted), the local copy kept.
    key = f"faults/{out['id']}.psbak"
    assert key not in listed(s3, "faults")
    assert open_uploads(s3) == []
    assert Path(out["file"]).exists()
    # Recorded: the run's state, the health, the journal and an incident.
    doc = json.loads(appliance.ctl("--json", "backup", "list").stdout)
    assert doc["last_run"]["state"] == "upload failed", doc["last_run"]
    # ...and the run history (GET /api/v1/backups/runs): written, its upload failed.
    status, hist = appliance.console.request("GET", "/api/v1/backups/runs")
    assert status == 200, hist
    newest = hist["runs"][0]
    assert newest["outcome"] == "upload_failed" and newest["archive_id"] == out["id"], newest
    assert newest["archive_bytes"] == out["archive_bytes"] and "HTTP 503 SlowDown" in newest["error"], newest
    assert json.loads(appliance.ctl("--json", "status").stdout)["components"]["backup"]["state"] == "degraded"
    log = appliance.read_log()[log_before:]
    # Each attempt after a part's first is logged as a retry.
    assert "backup.upload_failed" in log, log
    assert log.count("backup.s3_retry:") == stats["injected"][("UploadPart", "503 SlowDown")] - len(
        {m for m in re.findall(r"backup\.s3_retry: S3 PUT \S+ (part \d+)", log)}), log
    incidents = json.loads(appliance.ctl("--json", "incidents", "list").stdout)["incidents"]
    assert any(i.get("rule", i.get("kind")) == "backup_failure" for i in incidents), incidents
    assert metrics(appliance)[FAILURES] == failures_before + 1
    # The daemon itself is unharmed.
    assert json.loads(appliance.ctl("--json", "store", "check").stdout)["ok"]
    assert json.loads(appliance.ctl("--json", "audit", "verify").stdout)["ok"]

    # The fault clears: the next run ships and the backup is healthy again.
    proxy.clear()
    again = run_backup(appliance)
    assert_shipped_whole(s3, appliance, again, tmp_path)
    assert again["upload"]["retries"] == 0
    newest = appliance.console.request("GET", "/api/v1/backups/runs")[1]["runs"][0]
    assert newest["outcome"] == "ok" and newest["archive_id"] == again["id"] and newest["error"] == "", newest
    assert json.loads(appliance.ctl("--json", "status").stdout)["components"]["backup"]["state"] == "ok"
    m = metrics(appliance)
    assert m["privstack_backup_last_size_bytes"] == again["archive_bytes"]
    assert time.time() - m["privstack_backup_last_success_timestamp_seconds"] < 120, m
    assert m[FAILURES] == failures_before + 1


@pytest.mark.skipif(not FAKETIME.exists(), reason="libfaketime is not installed (scripts/setup installs faketime)")
def test_clock_20_minutes_slow_is_corrected_from_the_server_date(tmp_path, recovery, s3, proxy):
    """The daemon's wall clock 20 minutes behind (libfaketime, monotonic
    clock left alone so that timers work): RGW refuses the first request
    (403 RequestTimeTooSkewed, it allows 15 minutes), the client signs with
    the server's time from then on, logs one warning, and the archive
    ships. The proxy has no rules here: it only counts RGW's answers."""
    proxy.clear()
    d = make_daemon(tmp_path / "skewed", recovery, s3, proxy.endpoint, "skewed")
    d.env = {"LD_PRELOAD": str(FAKETIME), "FAKETIME": "-20m", "FAKETIME_DONT_FAKE_MONOTONIC": "1",
             # The ASan build's runtime must otherwise come first in the library list.
             "ASAN_OPTIONS": ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"), "verify_asan_link_order=0"]))}
    d.start()
    try:
        out = run_backup(d)
        stats = proxy.stats()
        refused = {op: n for (op, status), n in stats["passed"].items() if status == 403}
        assert sum(refused.values()) == 1, ("RGW should have refused exactly the first request", stats)
        assert_shipped_whole(s3, d, out, tmp_path)
        # The archive's own clock is the skewed one: faketime really applied.
        assert time.time() - out["created"] > 19 * 60, out["created"]
        assert out["upload"]["retries"] == 0  # a re-signing is not a retry
        warnings = re.findall(r"<4>warning backup\.s3_clock_skew: local clock is (\d+) s behind the S3 endpoint "
                              + re.escape(proxy.endpoint), d.read_log())
        assert len(warnings) == 1 and 1190 <= int(warnings[0]) <= 1210, d.read_log()[-3000:]

        # The offset is kept: the next run is signed right from its first request.
        proxy.clear()
        again = run_backup(d)
        assert again["upload"]["state"] == "uploaded", again["upload"]
        assert not [k for k in proxy.stats()["passed"] if k[1] == 403], proxy.stats()
        assert d.read_log().count("backup.s3_clock_skew:") == 1
    finally:
        assert d.stop() == 0, d.read_log()[-3000:]


def test_https_endpoint_is_verified_against_ca_file(tmp_path, recovery, s3):
    """The S3 endpoint over HTTPS (the proxy in front of RGW with a
    certificate for localhost from a private CA). Without backup.s3.ca_file
    the system store does not trust it: the upload fails saying so, nothing
    ships. With ca_file naming the CA the archive ships whole, through TLS."""
    ca_crt, crt, key = make_ca_and_server_cert(tmp_path, name="localhost", san="DNS:localhost",
                                               ca_name="privstack test S3 CA")
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(crt, key)
    proxy = S3FaultProxy("127.0.0.1", urlsplit(s3["S3_ENDPOINT"]).port, tls=tls)
    d = None
    try:
        assert proxy.endpoint.startswith("https://localhost:")
        d = make_daemon(tmp_path / "d", recovery, s3, proxy.endpoint, "tls")
        d.start()
        out = run_backup(d)
        assert out["upload"]["state"] == "failed", out["upload"]
        assert "certificate verify failed" in out["upload"]["error"], out["upload"]
        assert not listed(s3, "tls")
        assert d.stop() == 0, d.read_log()[-3000:]

        d.write_config(d.extra_config.replace("    path_style: true\n", f"    path_style: true\n    ca_file: {ca_crt}\n"))
        d.start()
        out = run_backup(d)
        assert_shipped_whole(s3, d, out, tmp_path)
        assert proxy.stats()["passed"].get(("UploadPart", 200), 0) >= 2, proxy.stats()
        doc = json.loads(d.ctl("--json", "backup", "list").stdout)
        assert doc["off_site"].get("archives", 0) >= 1 and not doc["off_site"].get("error"), doc["off_site"]
    finally:
        if d is not None and d.proc is not None and d.proc.poll() is None:
            assert d.stop() == 0, d.read_log()[-3000:]
        proxy.close()

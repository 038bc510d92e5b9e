"""Offline restore and verification of backups with the recovery private key:
`privstackctl backup restore --archive FILE|s3://... --recovery-key FILE
--state-directory DIR [--force]` onto a fresh state directory (then a real
daemon serves the restored data over HTTPS), from a real S3 server (Ceph RGW
via scripts/s3-server), refusal to overwrite, wrong keys and damaged archives
refused with nothing written, and `privstackctl backup verify` (structure via
the daemon, full with --recovery-key). Secrets never appear in output."""
import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from authclient import ADMIN, ADMIN_PW, Client, add_user, login_retrying
from conftest import BUILD_DIR, SOURCE_DIR, Daemon

TOOL = BUILD_DIR / "daemon" / "backup" / "backup_testtool"
CTL = BUILD_DIR / "daemon" / "privstackctl"
SCRIPT = SOURCE_DIR / "scripts" / "s3-server"
PASSPHRASE = "Recovery-Passphrase-q7Zx!"


def tool(env, *args, check=True):
    r = subprocess.run([str(TOOL), *map(str, args)], env=env, capture_output=True, text=True, timeout=300)
    assert not check or r.returncode == 0, r.stderr
    return r


def ctl(*args, input=None):
    return subprocess.run([str(CTL), *map(str, args)], input=input, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def recovery(tmp_path_factory):
    d = tmp_path_factory.mktemp("recovery")
    tool(os.environ, "keygen", d / "recovery.pem", d / "recovery.pub")
    # The same key, passphrase-protected with standard tools (PKCS#8, PBES2).
    (d / "pass").write_text(PASSPHRASE + "\n")
    subprocess.run(["openssl", "pkey", "-in", d / "recovery.pem", "-aes256", "-passout", f"file:{d / 'pass'}",
                    "-out", d / "recovery-enc.pem"], check=True, capture_output=True)
    assert "ENCRYPTED PRIVATE KEY" in (d / "recovery-enc.pem").read_text()
    tool(os.environ, "keygen", d / "other.pem", d / "other.pub")
    return d


def backup_config(state_dir, recovery, extra=""):
    pub = (recovery / "recovery.pub").read_text().strip().splitlines()
    key = "\n".join("    " + line for line in pub)
    return f"""backup:
  schedule: "off"
  local_directory: {state_dir / 'backups'}
  recovery_public_key: |
{key}
{extra}"""


def s3_section(endpoint, bucket, prefix, access_key_id, secret_path, extra=""):
    """The backup.s3 part of a config (indented under backup:)."""
    return f"""  s3:
    endpoint: {endpoint}
    region: us-east-1
    bucket: {bucket}
    prefix: {prefix}
    access_key_id: {access_key_id}
    secret_access_key_file: {secret_path}
    path_style: true
{extra}"""


def populate(d):
    """An admin, two recipients and a result, over the real API."""
    add_user(d, ADMIN, "admin", ADMIN_PW)
    add_user(d, "ophelia", "operator", "Operator-Pass-123!")
    c = Client(d)
    assert login_retrying(c, ADMIN, ADMIN_PW)[0] == 201
    ids = []
    for i, name in enumerate(["Ada Lovelace", "Émile Zola; DROP TABLE x;\n'quoted'"]):
        s, doc = c.request("POST", "/api/v1/recipients",
                           {"external_id": f"R{i}", "name": name, "email": f"r{i}@example.org"})
        assert s == 201, doc
        ids.append(doc["id"])
    s, doc = c.request("POST", "/api/v1/results", {"recipient_id": ids[0], "achievement": "Safety 101",
                                                   "score": 88.5, "status": "passed",
                                                   "completed_at": "2024-05-01T09:30:00Z"})
    assert s == 201, doc
    return c


def snapshot_of(d):
    """What must survive a restore, through the daemon's own interfaces."""
    records = d.ctl("records", "export", "--format", "jsonl").stdout
    users = json.loads(d.ctl("--json", "user", "list").stdout)
    audit = [json.loads(l) for l in d.ctl("audit", "export").stdout.splitlines()]
    return records, users, audit


def listing(path):
    """Names, sizes and contents of everything under path (None if absent)."""
    if not path.exists():
        return None
    return {str(p.relative_to(path)): (p.read_bytes() if p.is_file() else "dir") for p in sorted(path.rglob("*"))}


def assert_no_secrets(recovery, *texts, extra=()):
    pem_body = "".join((recovery / "recovery.pem").read_text().splitlines()[1:-1])
    for t in texts:
        assert PASSPHRASE not in t
        assert pem_body not in t
        for s in extra:
            assert s not in t


def restore(cfg, archive, key, state, *more, passphrase=PASSPHRASE, json_out=True):
    args = ["--json"] * json_out + ["backup", "restore", "--config", cfg, "--archive", archive, "--recovery-key", key,
            "--state-directory", state, *more]
    if passphrase is not None:
        args.append("--password-stdin")
    return ctl(*args, input=(passphrase + "\n") if passphrase is not None else None)


@pytest.fixture(scope="module")
def source(tmp_path_factory, recovery):
    """A daemon with data and one backup; stopped after the module."""
    d = Daemon(tmp_path_factory.mktemp("source"))
    d.write_config(backup_config(d.state, recovery))
    d.start()
    client = populate(d)
    before = snapshot_of(d)
    out = json.loads(d.ctl("--json", "backup", "run").stdout)
    # A copy: retention keeps only the newest archive of a day in the directory.
    d.archive = d.dir / "kept.psbak"
    shutil.copyfile(out["file"], d.archive)
    d.backup_id = out["id"]
    d.before = before
    d.client = client
    yield d
    d.stop()


def fresh(tmp_path, name="fresh"):
    """A stopped daemon's directory whose state directory holds nothing yet."""
    (tmp_path / name).mkdir()
    return Daemon(tmp_path / name)


def test_round_trip_on_a_fresh_machine(source, recovery, tmp_path):
    dst = fresh(tmp_path)
    dst.write_config()
    r = restore(dst.config_path, source.archive, recovery / "recovery-enc.pem", dst.state)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["restored"] and doc["key_created"] and not doc["replaced_existing_store"]
    assert doc["integrity"] == "ok" and doc["audit_chain"]["ok"]
    assert doc["header"]["archive_id"].startswith(source.backup_id.split("-")[1])
    key = (dst.state / "store.key").read_text().strip()
    assert len(key) == 64 and oct((dst.state / "store.key").stat().st_mode & 0o777) == "0o600"
    assert sorted(p.name for p in dst.state.iterdir()) == ["privstack.db", "store.key"], list(dst.state.iterdir())
    assert_no_secrets(recovery, r.stdout, r.stderr, extra=[key])
    # Encrypted at rest: the restored file is not a plain SQLite database.
    assert not (dst.state / "privstack.db").read_bytes().startswith(b"SQLite format 3")

    # The human form on a second machine, with the unprotected key.
    dst2 = fresh(tmp_path, "fresh2")
    dst2.write_config()
    r2 = restore(dst2.config_path, source.archive, recovery / "recovery.pem", dst2.state, passphrase=None,
                 json_out=False)
    assert r2.returncode == 0, r2.stderr
    assert "restored backup" in r2.stdout and "audit chain ok" in r2.stdout

    # A daemon on the restored directory serves the same data over HTTPS.
    dst.start()
    try:
        records, users, audit = snapshot_of(dst)
        assert records == source.before[0] and records.count("\n") >= 3
        assert users == source.before[1] and len(users) == 2
        n = len(source.before[2])
        assert audit[:n] == source.before[2], "restored audit entries differ"
        restores = [e for e in audit if e["action"] == "backup.restore"]
        assert len(restores) == 1 and restores[0]["object"] == "backup:" + doc["header"]["archive_id"]
        assert str(source.archive) in restores[0]["detail"]
        assert json.loads(dst.ctl("--json", "audit", "verify").stdout)["ok"]
        c = Client(dst)
        assert login_retrying(c, ADMIN, ADMIN_PW)[0] == 201  # the password hash came back too
        s, page = c.request("GET", "/api/v1/recipients")
        s0, page0 = source.client.request("GET", "/api/v1/recipients")
        assert s == 200 and s0 == 200 and page["items"] == page0["items"] and len(page["items"]) == 2
        assert_no_secrets(recovery, dst.read_log(), extra=[key])
    finally:
        assert dst.stop() == 0


def test_refuses_to_overwrite_without_force(source, recovery, tmp_path):
    dst = fresh(tmp_path)
    dst.write_config()
    assert restore(dst.config_path, source.archive, recovery / "recovery.pem", dst.state,
                   passphrase=None).returncode == 0
    dst.start()
    before = listing(dst.state)
    # Without --force: refused before anything else, even the passphrase prompt.
    r = restore(dst.config_path, source.archive, recovery / "recovery.pem", dst.state, passphrase=None)
    assert r.returncode == 1 and "refusing to overwrite" in r.stderr and "--force" in r.stderr
    assert json.loads(r.stdout)["restored"] is False
    # --force while the daemon has the store open: refused too.
    r = restore(dst.config_path, source.archive, recovery / "recovery.pem", dst.state, "--force", passphrase=None)
    assert r.returncode == 1 and "in use" in r.stderr, r.stderr
    after = listing(dst.state)
    assert set(after) == set(before) and after["store.key"] == before["store.key"]
    assert not [n for n in after if "restore" in n]  # no scratch files
    assert dst.stop() == 0
    # Daemon stopped, --force: replaced with the archive's content, the key kept.
    r = restore(dst.config_path, source.archive, recovery / "recovery.pem", dst.state, "--force", passphrase=None)
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert doc["replaced_existing_store"] and not doc["key_created"]
    assert (dst.state / "store.key").read_bytes() == before["store.key"]
    assert not (dst.state / "audit-anchor.json").exists()  # the old chain's anchor is gone
    dst.start()
    try:
        audit = [json.loads(l) for l in dst.ctl("audit", "export").stdout.splitlines()]
        # One restore entry: the first restore's entry was replaced with the rest of that store.
        assert [e["action"] for e in audit].count("backup.restore") == 1
        assert json.loads(dst.ctl("--json", "audit", "verify").stdout)["ok"]
    finally:
        assert dst.stop() == 0


def test_wrong_key_or_passphrase_writes_nothing(source, recovery, tmp_path):
    dst = fresh(tmp_path)
    dst.write_config()
    r = restore(dst.config_path, source.archive, recovery / "other.pem", dst.state, passphrase=None)
    assert r.returncode == 1 and "wrong recovery key" in r.stderr, r.stderr
    assert listing(dst.state) == {}
    r = restore(dst.config_path, source.archive, recovery / "recovery-enc.pem", dst.state,
                passphrase="not the passphrase")
    assert r.returncode == 1 and "passphrase is wrong" in r.stderr, r.stderr
    assert "not the passphrase" not in r.stdout + r.stderr
    assert listing(dst.state) == {}
    # No passphrase at all (no terminal, no --password-stdin): a usage error.
    r = ctl("backup", "restore", "--config", dst.config_path, "--archive", source.archive, "--recovery-key",
            recovery / "recovery-enc.pem", "--state-directory", dst.state, input="")
    assert r.returncode == 2 and "passphrase" in r.stderr
    # A state directory that did not exist is not created.
    missing = tmp_path / "never"
    r = restore(dst.config_path, source.archive, recovery / "other.pem", missing, passphrase=None)
    assert r.returncode == 1 and not missing.exists()
    # An existing store key (store init-key first) is kept and used; still nothing else written.
    subprocess.run([str(CTL), "store", "init-key", "--config", dst.config_path], check=True, capture_output=True)
    before = listing(dst.state)
    r = restore(dst.config_path, source.archive, recovery / "other.pem", dst.state, passphrase=None)
    assert r.returncode == 1 and listing(dst.state) == before


def _damaged(archive, how, other):
    data = archive.read_bytes()
    header_len = 16 + int.from_bytes(data[12:16], "big")
    if how == "flipped":
        mid = header_len + (len(data) - header_len) // 2
        return data[:mid] + bytes([data[mid] ^ 0x01]) + data[mid + 1:]
    if how == "truncated":
        return data[: header_len + (len(data) - header_len) // 2]
    if how == "final-chunk-cut":
        return data[: len(data) - (5 + 64 + 16)]
    if how == "appended":
        return data + b"\x00" * 32
    if how == "spliced":
        o = other.read_bytes()
        return data[:header_len] + o[16 + int.from_bytes(o[12:16], "big"):]
    if how == "header-edited":
        return data.replace(b'"source_host":"', b'"source_host":"X', 1)
    raise AssertionError(how)


@pytest.fixture(scope="module")
def second_archive(source):
    out = json.loads(source.ctl("--json", "backup", "run").stdout)
    kept = source.dir / "second.psbak"
    shutil.copyfile(out["file"], kept)
    return kept


@pytest.mark.parametrize("how", ["flipped", "truncated", "final-chunk-cut", "appended", "spliced", "header-edited"])
def test_damaged_archive_refused_and_nothing_written(source, second_archive, recovery, tmp_path, how):
    bad = tmp_path / "bad.psbak"
    bad.write_bytes(_damaged(source.archive, how, second_archive))
    dst = fresh(tmp_path)
    dst.write_config()
    r = restore(dst.config_path, bad, recovery / "recovery-enc.pem", dst.state)
    assert r.returncode == 1, r.stdout
    assert "nothing was changed" in r.stderr and any(
        w in r.stderr for w in ("corrupted", "truncated", "spliced", "after the final chunk", "follow")), r.stderr
    assert listing(dst.state) == {}, listing(dst.state)
    assert_no_secrets(recovery, r.stdout, r.stderr)
    # The offline verification refuses it too.
    v = ctl("backup", "verify", "--recovery-key", recovery / "recovery.pem", bad)
    assert v.returncode == 1 and "FAILED" in v.stderr, v.stdout


def test_verify_good_and_damaged(source, recovery, tmp_path):
    newest = json.loads(source.ctl("--json", "backup", "run").stdout)
    backup_id, archive = newest["id"], Path(newest["file"])
    # Through the daemon: structure only (it has no private key).
    r = source.ctl("--json", "backup", "verify", backup_id)
    doc = json.loads(r.stdout)
    assert doc["ok"] and doc["level"] == "structure" and doc["recovery_key_matches_config"]
    assert doc["data_chunks"] >= 1 and doc["archive_bytes"] == archive.stat().st_size
    assert "OK (structure only)" in source.ctl("backup", "verify", backup_id).stdout
    # Offline with the recovery key: authenticated, restored to scratch, checked; by id or by file.
    r = ctl("--json", "backup", "verify", "--config", source.config_path, "--recovery-key",
            recovery / "recovery-enc.pem", "--password-stdin", backup_id, input=PASSPHRASE + "\n")
    assert r.returncode == 0, r.stderr
    full = json.loads(r.stdout)
    assert full["ok"] and full["integrity"] == "ok" and full["audit_chain"]["ok"] and full["statements"] > 0
    assert full["row_counts"]["recipients"] == 2, full["row_counts"]
    assert_no_secrets(recovery, r.stdout, r.stderr)
    scratch_left = [p for p in Path(os.environ.get("TMPDIR", "/tmp")).glob("privstack-verify-*")]
    assert scratch_left == []
    # A damaged archive under a backup id: the daemon sees a truncated one...
    damaged_id = "20000101T000000Z-deadbeef"
    bad = archive.parent / (damaged_id + ".psbak")
    bad.write_bytes(_damaged(source.archive, "final-chunk-cut", None))
    try:
        r = source.ctl("backup", "verify", damaged_id, check=False)
        assert r.returncode == 1 and "damaged" in r.stderr and "truncated" in r.stderr, r.stderr
        assert "backup.verify_failed" in source.read_log()
        incidents = json.loads(source.ctl("--json", "incidents", "list").stdout)["incidents"]
        assert any(i.get("rule", i.get("kind")) == "backup_failure" or "Backup failed" in i["title"]
                   for i in incidents), incidents
        # ...but a flipped ciphertext byte needs the key: the offline check finds it.
        bad.write_bytes(_damaged(source.archive, "flipped", None))
        assert source.ctl("backup", "verify", damaged_id, check=False).returncode == 0
        r = ctl("backup", "verify", "--config", source.config_path, "--recovery-key", recovery / "recovery.pem",
                damaged_id)
        assert r.returncode == 1 and "failed authentication" in r.stderr, r.stderr
    finally:
        bad.unlink()
    r = source.ctl("backup", "verify", "no-such-backup", check=False)
    assert r.returncode == 1 and "no such backup" in r.stderr
    audit = [json.loads(l) for l in source.ctl("audit", "export").stdout.splitlines()]
    assert any(e["action"] == "backup.verify" and e["outcome"] == "failure" for e in audit)


def test_restore_help_is_a_manual():
    r = ctl("backup", "restore", "--help")
    assert r.returncode == 0
    for text in ("--archive", "s3://BUCKET/KEY", "--recovery-key", "--state-directory", "--force",
                 "--password-stdin", "nothing is written", "Exit status"):
        assert text in r.stdout, text
    r = ctl("backup", "restore", "--recovery-key", "x")
    assert r.returncode == 2 and "--archive is required" in r.stderr


# ---- from the bucket (real Ceph RGW) ----------------------------------------------


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    if shutil.which("radosgw") is None:
        pytest.skip("radosgw is not installed (scripts/setup installs it)")
    state = tmp_path_factory.mktemp("s3server")
    env = dict(os.environ, S3_SERVER_DIR=str(state / "ceph"), S3_PORT=str(_free_port()),
               S3_MON_PORT=str(_free_port()))
    out = subprocess.run([str(SCRIPT), "start"], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    for line in out.stdout.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value
    env["S3_BUCKET"] = "privstack-restore"
    env["S3_BACKOFF_MS"] = "50"
    try:
        tool(env, "s3", "mb")
        yield env
    finally:
        subprocess.run([str(SCRIPT), "stop"], env=env, capture_output=True, timeout=120)


def test_restore_from_the_bucket_with_the_recovery_key_only(s3, recovery, tmp_path):
    def s3_extra(d):
        secret = d.dir / "s3.secret"
        secret.write_text(s3["AWS_SECRET_ACCESS_KEY"] + "\n")
        secret.chmod(0o600)
        return s3_section(s3["S3_ENDPOINT"], s3["S3_BUCKET"], "appliance1", s3["AWS_ACCESS_KEY_ID"], secret)
    src = fresh(tmp_path, "src")
    src.write_config(backup_config(src.state, recovery, s3_extra(src)))
    src.start()
    try:
        populate(src)
        before = snapshot_of(src)
        out = json.loads(src.ctl("--json", "backup", "run").stdout)
        assert out["upload"]["state"] == "uploaded", out
    finally:
        assert src.stop() == 0
    # The whole source machine is lost; only the bucket and the recovery key remain.
    shutil.rmtree(src.dir)
    dst = fresh(tmp_path)
    dst.write_config(backup_config(dst.state, recovery, s3_extra(dst)))
    url = f"s3://{s3['S3_BUCKET']}/{out['upload']['key']}"
    r = restore(dst.config_path, url, recovery / "recovery-enc.pem", dst.state)
    assert r.returncode == 0, r.stderr
    assert_no_secrets(recovery, r.stdout, r.stderr, extra=[s3["AWS_SECRET_ACCESS_KEY"]])
    assert sorted(p.name for p in dst.state.iterdir()) == ["privstack.db", "store.key"]  # no download left
    # A missing object: a clear error, nothing written.
    other = fresh(tmp_path, "other")
    other.write_config(backup_config(other.state, recovery, s3_extra(other)))
    r = restore(other.config_path, url + ".missing", recovery / "recovery.pem", other.state, passphrase=None)
    assert r.returncode == 1 and "nothing was changed" in r.stderr
    assert listing(other.state) == {}
    dst.start()
    try:
        records, users, audit = snapshot_of(dst)
        assert records == before[0]
        assert audit[: len(before[2])] == before[2]
        assert any(e["action"] == "backup.restore" and url in e["detail"] for e in audit)
    finally:
        assert dst.stop() == 0


# ---- the test restore at creation and the keyless re-verification -----------------


def test_each_backup_is_test_restored_and_its_digest_recorded(source):
    import hashlib
    out = json.loads(source.ctl("--json", "backup", "run").stdout)
    archive = Path(out["file"])
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    assert out["test_restore"]["ok"] is True and out["sha256"] == digest
    # sha256sum's format, so that `sha256sum -c` works on the directory.
    sidecar = Path(str(archive) + ".sha256")
    assert sidecar.read_text() == f"{digest}  {archive.name}\n"
    assert oct(sidecar.stat().st_mode & 0o777) == "0o600"
    r = subprocess.run(["sha256sum", "-c", sidecar.name], cwd=archive.parent, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
    # The scratch store of the test restore is gone.
    assert not [p for p in source.state.rglob("privstack-verify-*")]
    assert "failed its test restore" not in source.read_log()


def test_verify_all_finds_an_altered_archive(source):
    out = json.loads(source.ctl("--json", "backup", "run").stdout)
    archive = Path(out["file"])
    listed = json.loads(source.ctl("--json", "backup", "list").stdout)
    n_local = len(listed["backups"])
    r = source.ctl("--json", "backup", "verify", "all")
    doc = json.loads(r.stdout)
    assert doc["damaged"] == 0 and doc["checked"] == n_local >= 1, doc
    assert all(a["ok"] and a["place"] == "local" for a in doc["archives"])
    assert any(a["id"] == out["id"] and a["sha256_matches_test_restore"] is True for a in doc["archives"])
    assert "backup.verified" in source.read_log()
    # One flipped byte inside a chunk: the structure is intact, the digest is not.
    good = archive.read_bytes()
    mid = len(good) // 2
    archive.write_bytes(good[:mid] + bytes([good[mid] ^ 0x40]) + good[mid + 1:])
    try:
        r = source.ctl("backup", "verify", "all", check=False)
        assert r.returncode == 1, r.stdout + r.stderr
        assert f"DAMAGED  {out['id']} (local)" in r.stdout and "SHA-256" in r.stdout, r.stdout
        assert f"{n_local} copies checked, 1 damaged" in r.stdout
        r = source.ctl("backup", "verify", out["id"], check=False)
        assert r.returncode == 1 and "recorded at its test restore" in r.stderr, r.stderr
        incidents = json.loads(source.ctl("--json", "incidents", "list").stdout)["incidents"]
        assert any(i.get("rule", i.get("kind")) == "backup_failure" for i in incidents), incidents
        audit = [json.loads(l) for l in source.ctl("audit", "export").stdout.splitlines()]
        assert any(e["action"] == "backup.verify" and e["outcome"] == "failure" and e["object"] == "backup:" + out["id"]
                   for e in audit)
    finally:
        archive.write_bytes(good)
    assert source.ctl("backup", "verify", "all").returncode == 0
    # --recovery-key checks one archive, not "all".
    r = ctl("backup", "verify", "--recovery-key", "/nonexistent.pem", "all")
    assert r.returncode == 2 and "give its ID" in r.stderr


def test_verify_all_downloads_the_newest_copy_from_the_bucket(s3, recovery, tmp_path):
    secret = tmp_path / "s3.secret"
    secret.write_text(s3["AWS_SECRET_ACCESS_KEY"] + "\n")
    secret.chmod(0o600)
    d = fresh(tmp_path, "verify-s3")
    d.write_config(backup_config(d.state, recovery, s3_section(s3["S3_ENDPOINT"], s3["S3_BUCKET"], "verify",
                                                               s3["AWS_ACCESS_KEY_ID"], secret)))
    d.start()
    try:
        populate(d)
        out = json.loads(d.ctl("--json", "backup", "run").stdout)
        assert out["upload"]["state"] == "uploaded", out
        doc = json.loads(d.ctl("--json", "backup", "verify", "all").stdout)
        assert doc["damaged"] == 0 and doc["checked"] == 2, doc
        remote = [a for a in doc["archives"] if a["place"] == "s3"]
        assert remote == [{"id": out["id"], "place": "s3", "key": out["upload"]["key"], "ok": True,
                           "sha256_matches_test_restore": True}], remote
        # The off-site copy replaced by a damaged one (what bit rot or a
        # hostile bucket would leave): found, reported, nothing left behind.
        good = Path(out["file"]).read_bytes()
        bad = tmp_path / "bad.psbak"
        bad.write_bytes(good[:-40] + bytes([good[-40] ^ 1]) + good[-39:])
        tool(s3, "s3", "put", out["upload"]["key"], bad)
        r = d.ctl("--json", "backup", "verify", "all", check=False)
        assert r.returncode == 1
        doc = json.loads(r.stdout)
        assert doc["damaged"] == 1 and [a["place"] for a in doc["archives"] if not a["ok"]] == ["s3"], doc
        assert "backup.verify_failed" in d.read_log()
        assert not [p for p in (d.state / "backups").iterdir() if p.name.startswith(".")]
        assert s3["AWS_SECRET_ACCESS_KEY"] not in d.read_log()
    finally:
        assert d.stop() == 0


def test_put_only_credentials_and_object_lock(s3, recovery, tmp_path):
    """docs/operations.md's hardened off-site setup, for real: an appliance
    user whose only right on the bucket is s3:PutObject under its prefix
    and setting and reading Object Lock retention (a bucket policy, as an
    IAM policy would grant), with
    backup.s3.put_only and Object Lock. The backup ships and is retained in
    COMPLIANCE mode; the appliance's own credentials can neither read nor
    delete what it shipped; the scheduled verification skips the bucket
    instead of failing."""
    aws = "/usr/bin/aws"
    if not Path(aws).exists():
        pytest.skip("Debian's awscli is not installed")
    conf = Path(s3["S3_SERVER_DIR"]) / "ceph.conf"
    r = subprocess.run(["radosgw-admin", "-c", conf, "-n", "client.admin", "user", "create", "--uid=appliance",
                        "--display-name=appliance", "--access-key=APPLIANCEPUTONLY0001",
                        "--secret-key=appliance-secret-put-only-0123456789"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    owner = dict(s3, AWS_EC2_METADATA_DISABLED="true")
    appliance = dict(owner, AWS_ACCESS_KEY_ID="APPLIANCEPUTONLY0001",
                     AWS_SECRET_ACCESS_KEY="appliance-secret-put-only-0123456789")

    def run_aws(env, *args, check=True):
        r = subprocess.run([aws, "--endpoint-url", s3["S3_ENDPOINT"], "--output", "json", *args], env=env,
                           capture_output=True, text=True, timeout=300)
        assert not check or r.returncode == 0, r.stderr
        return r
    run_aws(owner, "s3api", "create-bucket", "--bucket", "privstack-locked", "--object-lock-enabled-for-bucket")
    policy = {"Version": "2012-10-17", "Statement": [{
        "Sid": "ApplianceMayOnlyWrite", "Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam:::user/appliance"]},
        "Action": ["s3:PutObject", "s3:PutObjectAcl", "s3:PutObjectRetention", "s3:GetObjectRetention"],
        "Resource": ["arn:aws:s3:::privstack-locked/appliance1/*"]}, {
        # Under ACLs (RGW; AWS buckets without BucketOwnerEnforced) the
        # uploader owns its objects: an explicit Deny is what stops it
        # reading or deleting them.
        "Sid": "ApplianceMayNotReadOrDelete", "Effect": "Deny",
        "Principal": {"AWS": ["arn:aws:iam:::user/appliance"]},
        "Action": ["s3:GetObject", "s3:GetObjectVersion", "s3:DeleteObject", "s3:DeleteObjectVersion",
                   "s3:BypassGovernanceRetention", "s3:ListBucket", "s3:ListBucketVersions"],
        "Resource": ["arn:aws:s3:::privstack-locked", "arn:aws:s3:::privstack-locked/*"]}]}
    run_aws(owner, "s3api", "put-bucket-policy", "--bucket", "privstack-locked", "--policy", json.dumps(policy))

    secret = tmp_path / "s3.secret"
    secret.write_text(appliance["AWS_SECRET_ACCESS_KEY"] + "\n")
    secret.chmod(0o600)
    d = fresh(tmp_path, "put-only")
    d.write_config(backup_config(d.state, recovery, s3_section(
        s3["S3_ENDPOINT"], "privstack-locked", "appliance1", appliance["AWS_ACCESS_KEY_ID"], secret,
        "    put_only: true\n    object_lock:\n      mode: compliance\n      retain_days: 3\n")))
    d.start()
    try:
        populate(d)
        out = json.loads(d.ctl("--json", "backup", "run").stdout)
        up = out["upload"]
        assert up["state"] == "uploaded" and up["bytes"] == Path(out["file"]).stat().st_size, out
        assert up["verified_by"] == "Content-MD5 of every part" and up["pruned"] == [], up
        assert up["object_lock"] == {"mode": "COMPLIANCE", "retain_days": 3}, up
        key = up["key"]
        # The owner sees it retained, and byte for byte what the appliance holds.
        ret = json.loads(run_aws(owner, "s3api", "get-object-retention", "--bucket", "privstack-locked",
                                 "--key", key).stdout)["Retention"]
        assert ret["Mode"] == "COMPLIANCE", ret
        run_aws(owner, "s3api", "get-object", "--bucket", "privstack-locked", "--key", key,
                str(tmp_path / "copy.psbak"))
        assert (tmp_path / "copy.psbak").read_bytes() == Path(out["file"]).read_bytes()
        # The appliance's credentials can write, but not read, list or delete.
        # (Our own client asks: awscli 2's error parser trips over RGW's
        # empty <Message/> on a denied GET.)
        as_appliance = dict(appliance, S3_BUCKET="privstack-locked", S3_MAX_ATTEMPTS="1")
        for args in (["get", key, tmp_path / "x"], ["list", "appliance1/"], ["delete", key]):
            r = tool(as_appliance, "s3", *args, check=False)
            assert r.returncode != 0 and "AccessDenied" in r.stderr, (args, r.stderr)
        assert run_aws(owner, "s3api", "head-object", "--bucket", "privstack-locked", "--key", key).returncode == 0
        doc = json.loads(d.ctl("--json", "backup", "verify", "all").stdout)
        assert doc["damaged"] == 0 and doc["checked"] == 1 and "put_only" in doc["s3"], doc
        assert appliance["AWS_SECRET_ACCESS_KEY"] not in d.read_log()
    finally:
        assert d.stop() == 0


def test_restore_killed_at_many_points_then_a_rerun(source, recovery, tmp_path):
    """`backup restore` killed with SIGKILL at points spread over its run:
    each time the state directory holds either no database (only the store
    key and the dead run's scratch files, which the daemon never opens) or
    the whole restored store. A rerun then succeeds, removes the dead runs'
    scratch files, and a daemon serves the restored data."""
    def run_restore(dst):
        args = [str(CTL), "backup", "restore", "--config", str(dst.config_path), "--archive", str(source.archive),
                "--recovery-key", str(recovery / "recovery.pem"), "--state-directory", str(dst.state)]
        return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def check_whole(dst):
        dst.start()
        try:
            assert "ok: true" in dst.ctl("store", "check").stdout
            assert json.loads(dst.ctl("--json", "audit", "verify").stdout)["ok"]
            assert dst.ctl("records", "export", "--format", "jsonl").stdout == source.before[0]
        finally:
            assert dst.stop() == 0

    # How long an uninterrupted restore takes here.
    calibrate = fresh(tmp_path, "calibrate")
    calibrate.write_config()
    t0 = time.monotonic()
    assert run_restore(calibrate).wait(timeout=120) == 0
    total = time.monotonic() - t0
    outcomes = {"nothing": 0, "whole": 0}
    left_behind = set()  # scratch files of killed runs, for the record

    def kill_after(name, delay):
        dst = fresh(tmp_path, name)
        dst.write_config()
        p = run_restore(dst)
        time.sleep(delay)
        p.send_signal(signal.SIGKILL)
        p.wait()
        names = sorted(n.name for n in dst.state.iterdir())
        if "privstack.db" in names:
            outcomes["whole"] += 1
            assert not [n for n in names if ".restore-" in n], names
            check_whole(dst)
            return
        outcomes["nothing"] += 1
        # Killed before the commit: no database the daemon could start on.
        # store.key.tmp is a key being written (0600, never read; the next
        # key write replaces it).
        assert all(n in ("store.key", "store.key.tmp") or n.startswith(".privstack.db.restore-") for n in names), names
        left_behind.update(n for n in names if n != "store.key")
        assert run_restore(dst).wait(timeout=120) == 0
        names = sorted(n.name for n in dst.state.iterdir() if n.name != "store.key.tmp")
        assert names == ["privstack.db", "store.key"], names  # the dead run's scratch files are gone
        check_whole(dst)

    for i in range(12):
        kill_after(f"killed{i}", total * i / 12)
    # Under load a run can be slower than the calibration: kill later and
    # later until one got through (the committed side must be checked too).
    delay = total
    while outcomes["whole"] == 0 and delay < 30 * total + 5:
        delay *= 1.5
        kill_after(f"late{delay:.3f}", delay)
    print("restore kill outcomes:", outcomes, "restore time", total, "scratch files left by killed runs:",
          sorted(left_behind))
    assert outcomes["nothing"] > 0 and outcomes["whole"] > 0, outcomes

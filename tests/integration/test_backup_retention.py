"""The retention planner against real restic.

`restic forget --keep-last L --keep-daily D --keep-weekly W --keep-monthly M`
is the reference semantics (docs: daemon/backup/retention.h). Creating hundreds of
snapshot sets with `restic backup --time` takes about a second per snapshot,
so this test makes one real snapshot and then writes the others itself,
encrypted the way restic stores them (repository version 1: AES-256-CTR with
a Poly1305-AES MAC under the repository's master key, file named by the
SHA-256 of its bytes). Each set gets its own host name, so one `restic forget
--dry-run --json` call plans every set (restic groups by host and paths).
Times carry the Europe/Berlin offset of their instant, and the planner runs
with TZ=Europe/Berlin: both bucket by local calendar day, ISO week, month.
"""
import base64
import datetime
import hashlib
import json
import os
import random
import shutil
import subprocess
from zoneinfo import ZoneInfo

import pytest

from conftest import BUILD_DIR

RESTIC = shutil.which("restic")
TOOL = BUILD_DIR / "daemon" / "backup" / "backup_testtool"
TZ = ZoneInfo("Europe/Berlin")
# (daily, weekly, monthly[, keep_last]); without keep_last the tool plans with
# 0, as restic does without --keep-last. The sets hold 1 to 45 snapshots, so
# keep_last 60 is larger than every set.
POLICIES = [(5, 4, 6), (2, 1, 1), (1, 3, 0), (7, 0, 2), (0, 2, 3), (3, 5, 12),
            (0, 0, 0, 3), (0, 0, 0, 1), (0, 0, 0, 60), (1, 0, 0, 3), (5, 0, 0, 10), (5, 4, 6, 3), (2, 1, 1, 7),
            (0, 2, 0, 60)]

pytestmark = pytest.mark.skipif(RESTIC is None, reason="restic is not installed (scripts/setup installs it)")


def _aes_ctr(key, iv, data):
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    c = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return c.update(data) + c.finalize()


def _aes_block(key, block):
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    c = Cipher(algorithms.AES(key), modes.ECB()).encryptor()
    return c.update(block) + c.finalize()


class ResticRepo:
    def __init__(self, path, password):
        self.path = path
        self.env = dict(os.environ, RESTIC_REPOSITORY=str(path), RESTIC_PASSWORD=password,
                        RESTIC_CACHE_DIR=str(path) + ".cache")
        self.password = password

    def run(self, *args):
        return subprocess.run([RESTIC, *args], env=self.env, check=True, capture_output=True, text=True).stdout

    def master_key(self):
        (key_file,) = (self.path / "keys").iterdir()
        k = json.loads(key_file.read_text())
        derived = hashlib.scrypt(self.password.encode(), salt=base64.b64decode(k["salt"]), n=k["N"], r=k["r"],
                                 p=k["p"], dklen=64, maxmem=256 * 1024 * 1024)
        data = base64.b64decode(k["data"])
        plain = json.loads(_aes_ctr(derived[:32], data[:16], data[16:-16]))
        return (base64.b64decode(plain["encrypt"]), base64.b64decode(plain["mac"]["k"]),
                base64.b64decode(plain["mac"]["r"]))

    def write_snapshot(self, keys, snapshot):
        from cryptography.hazmat.primitives.poly1305 import Poly1305
        enc, mac_k, mac_r = keys
        iv = os.urandom(16)
        ct = _aes_ctr(enc, iv, json.dumps(snapshot).encode())
        mac = Poly1305.generate_tag(mac_r + _aes_block(mac_k, iv), ct)
        blob = iv + ct + mac
        (self.path / "snapshots" / hashlib.sha256(blob).hexdigest()).write_bytes(blob)


def _timestamp_sets(rng, count):
    """Timestamps (Unix seconds) designed to hit the buckets' edges."""
    sets = []
    base = datetime.datetime(2025, 1, 1, tzinfo=datetime.timezone.utc).timestamp()
    for i in range(count):
        mode = i % 5
        n = rng.randint(1, 45)
        if mode == 0:  # nightly with gaps (daemon down), 02:00 +- jitter
            start = base + rng.randint(0, 400) * 86400
            ts = [start + d * 86400 + rng.randint(-3600, 3600) for d in range(n) if rng.random() > 0.2]
        elif mode == 1:  # anywhere within 18 months
            ts = [base + rng.randint(0, 540 * 86400) for _ in range(n)]
        elif mode == 2:  # around the turn of the year (ISO week 53/01)
            y = rng.choice([2020, 2024, 2025, 2026])
            mid = datetime.datetime(y, 12, 31, 23, tzinfo=datetime.timezone.utc).timestamp()
            ts = [mid + rng.randint(-20 * 86400, 20 * 86400) for _ in range(n)]
        elif mode == 3:  # several per day, around midnight local time and DST changes
            mid = datetime.datetime(2026, 3, 29, 0, tzinfo=TZ).timestamp() + rng.choice([0, 211 * 86400])
            ts = [mid + rng.randint(-15 * 86400, 15 * 86400) // 1800 * 1800 + rng.choice([-1, 0, 1]) for _ in range(n)]
        else:  # month ends
            ts = []
            for _ in range(n):
                y, m = rng.choice([2025, 2026]), rng.randint(1, 12)
                first = datetime.datetime(y, m, 1, tzinfo=TZ).timestamp()
                ts.append(first + rng.randint(-2 * 86400, 2 * 86400))
        ts = sorted(set(int(t) for t in ts)) or [int(base)]
        sets.append(ts)
    return sets


def _planned(policy, ts):
    stdin = "".join(f"{t} {t}\n" for t in ts)
    out = subprocess.run([str(TOOL), "retention", *map(str, policy)], input=stdin, capture_output=True, text=True,
                         check=True, env=dict(os.environ, TZ="Europe/Berlin")).stdout
    return [int(x) for x in out.split()]


def test_retention_matches_restic_forget(tmp_path):
    repo = ResticRepo(tmp_path / "repo", "retention-test")
    repo.run("init", "--repository-version", "1")
    data = tmp_path / "data"
    data.mkdir()
    (data / "f").write_text("x")
    repo.run("backup", "--host", "template", str(data))
    (template_file,) = (repo.path / "snapshots").iterdir()
    keys = repo.master_key()
    blob = template_file.read_bytes()
    template = json.loads(_aes_ctr(keys[0], blob[:16], blob[16:-16]))
    template.pop("parent", None)

    rng = random.Random(20261122)
    sets = _timestamp_sets(rng, 300)
    assert max(len(s) for s in sets) < 60  # keep_last 60 is larger than every set
    for i, ts in enumerate(sets):
        for t in ts:
            when = datetime.datetime.fromtimestamp(t, TZ)
            repo.write_snapshot(keys, dict(template, time=when.isoformat(), hostname=f"set{i}"))
    assert len(list((repo.path / "snapshots").iterdir())) == 1 + sum(len(s) for s in sets)

    compared = 0
    for policy in POLICIES:
        d, w, m, last = (*policy, 0)[:4]
        args = ["forget", "--dry-run", "--json", "--group-by", "host"]
        for flag, n in (("--keep-last", last), ("--keep-daily", d), ("--keep-weekly", w), ("--keep-monthly", m)):
            if n:
                args += [flag, str(n)]
        groups = json.loads(repo.run(*args))
        by_host = {g["host"]: g for g in groups}
        for i, ts in enumerate(sets):
            g = by_host[f"set{i}"]
            restic_kept = sorted((int(datetime.datetime.fromisoformat(s["time"]).timestamp()) for s in g["keep"]),
                                 reverse=True)
            ours = _planned(policy, ts)
            assert ours == restic_kept, f"policy {policy}, set {i}: times {ts}"
            compared += 1
    assert compared == len(POLICIES) * len(sets)

"""The issuing wallet and credential issuance against the real daemon:
wallet init (generated mnemonic with confirmation, and --import errors) on
the control socket, unlock over HTTPS (wrong password throttled and
audited), public-only derivation, issuing a batch as an issuer, online,
CLI and independent (hashlib + python3-ecdsa) verification, tamper
detection, revocation, lock/logout/restart closing the window, and no
secret in the daemon's log."""
import copy
import hashlib
import json
import re
import subprocess
import time

import pytest

from conftest import PRIVSTACKCTL
from test_records import PASSWORDS, ROLES, Client, audit_entries, needs_auth

ecdsa = pytest.importorskip("ecdsa")

WALLET_PW = "Issuing-Seed-Pass-7x!"
WRONG_PW = "Not-The-Seed-Pass-9y!"


# --- an independent verifier, written from docs/credential-format.md -------

def canonical(value):
    def check(v):
        if isinstance(v, float):
            raise ValueError("floating-point number in a credential")
        if isinstance(v, dict):
            for x in v.values():
                check(x)
        if isinstance(v, list):
            for x in v:
                check(x)
    check(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def independent_verify(file_doc):
    """Returns None when valid, else the reason."""
    try:
        cred, proof = file_doc["credential"], file_doc["proof"]
        if cred.get("type") != "PrivstackCredential" or cred.get("version") != 1:
            return "type"
        if proof.get("type") != "PrivstackMerkleProof" or proof.get("signature_algorithm") != "ecdsa-secp256k1-sha256":
            return "type"
        leaf = hashlib.sha256(b"\x00" + canonical(cred)).digest()
        if leaf != bytes.fromhex(proof["target_hash"]):
            return "target_hash"
        if proof["batch_id"] != cred["batch_id"]:
            return "batch"
        h = leaf
        for step in proof["merkle_path"]:
            sibling = bytes.fromhex(step["hash"])
            if len(sibling) != 32 or step["position"] not in ("left", "right"):
                return "merkle_path"
            h = hashlib.sha256(b"\x01" + (sibling + h if step["position"] == "left" else h + sibling)).digest()
        root = bytes.fromhex(proof["merkle_root"])
        if h != root:
            return "merkle_root"
        digest = hashlib.sha256(b"privstack-merkle-root-v1:" + root).digest()
        sig = bytes.fromhex(proof["signature"])
        order = ecdsa.SECP256k1.order
        r, s = ecdsa.util.sigdecode_der(sig, order)
        if not (1 <= s <= order // 2):
            return "high_s"
        vk = ecdsa.VerifyingKey.from_string(bytes.fromhex(proof["public_key"]), curve=ecdsa.SECP256k1)
        vk.verify_digest(sig, digest, sigdecode=ecdsa.util.sigdecode_der)
        return None
    except ecdsa.BadSignatureError:
        return "signature"
    except ecdsa.errors.MalformedPointError as e:  # a tampered key that is not on the curve (an AssertionError)
        return f"malformed public key: {e}"
    except (KeyError, ValueError, TypeError, ecdsa.der.UnexpectedDER) as e:
        return f"malformed: {e}"


# --- helpers ---------------------------------------------------------------

def ctl(d, *args, input=None):
    return subprocess.run([str(PRIVSTACKCTL), "--socket", str(d.socket), *args], input=input,
                          capture_output=True, text=True, timeout=120)


def wallet_init_generate(d):
    """Runs `wallet init --password-stdin` and types back the asked words.
    Returns (mnemonic words, stdout, stderr)."""
    p = subprocess.Popen([str(PRIVSTACKCTL), "--socket", str(d.socket), "wallet", "init", "--password-stdin"],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    p.stdin.write(WALLET_PW + "\n")
    p.stdin.flush()
    out = []
    words = {}
    positions = None
    deadline = time.time() + 60
    while positions is None and time.time() < deadline:
        line = p.stdout.readline()
        if not line:
            break
        out.append(line)
        for n, w in re.findall(r"\s(\d{1,2}) ([a-z]+)", line):
            words[int(n)] = w
        m = re.match(r"Confirm words at positions ([\d ]+)", line)
        if m:
            positions = [int(x) for x in m.group(1).split()]
    assert positions, "".join(out) + p.stderr.read()
    assert len(words) == 24, words
    for pos in positions:
        p.stdin.write(words[pos] + "\n")
    p.stdin.flush()
    rest, err = p.communicate(timeout=60)
    out.append(rest)
    assert p.returncode == 0, "".join(out) + err
    return [words[i] for i in range(1, 25)], "".join(out), err


@pytest.fixture
def env(daemon):
    needs_auth()
    for user, role in ROLES.items():
        daemon.ctl("user", "add", user, "--role", role, "--password-stdin", input=PASSWORDS[user] + "\n")
    return daemon


def make_results(c, n, prefix):
    status, _, rec = c.call("POST", "/api/v1/recipients",
                            {"external_id": f"{prefix}-R1", "name": "Zoë Ñandú \"Z\"", "email": "zoe@example.com"})
    assert status == 201, rec
    ids = []
    for i in range(n):
        body = {"recipient_id": rec["id"], "achievement": f"Course {i} — Ünïcode", "status": "passed",
                "completed_at": f"2025-10-{i % 28 + 1:02d}T09:{i % 60:02d}:00Z"}
        if i % 2 == 0:
            body["score"] = 80.5 + i
        status, _, res = c.call("POST", "/api/v1/results", body)
        assert status == 201, res
        ids.append(res["id"])
    status, _, res = c.call("POST", "/api/v1/results", {"recipient_id": rec["id"], "achievement": "Failed one",
                                                        "status": "failed"})
    assert status == 201, res
    return ids, res["id"]


def test_wallet_end_to_end(env, tmp_path):
    d = env
    # Not initialized: status says so, unlock is refused.
    st = json.loads(ctl(d, "--json", "wallet", "status").stdout)
    assert st["state"] == "not_initialized"

    # --import with a bad checksum is a clear error and stores nothing.
    bad = "abandon " * 11 + "abandon"
    r = ctl(d, "wallet", "init", "--import", "--password-stdin", input=f"{WALLET_PW}\n{bad}\n")
    assert r.returncode == 1 and "checksum" in r.stderr.lower(), r.stderr
    r = ctl(d, "wallet", "init", "--import", "--password-stdin", input=f"{WALLET_PW}\nabandon zzzz {'abandon ' * 9}about\n")
    assert r.returncode == 1 and "word 2" in r.stderr, r.stderr

    words, init_out, init_err = wallet_init_generate(d)
    mnemonic = " ".join(words)
    assert "initialized" in init_out
    st = json.loads(ctl(d, "--json", "wallet", "status").stdout)
    assert st["state"] == "locked" and st["initialized"]
    r = ctl(d, "wallet", "init", "--import", "--password-stdin", input=f"{WALLET_PW}\n{mnemonic}\n")
    assert r.returncode == 1 and "already initialized" in r.stderr

    iris = Client(d, "iris")    # issuer
    sam = Client(d, "sam")      # support
    otto = Client(d, "otto")    # operator
    status, _, doc = iris.call("GET", "/api/v1/wallet")
    assert status == 200 and doc["state"] == "locked"
    assert otto.call("GET", "/api/v1/wallet")[0] == 403

    ids, failed_id = make_results(iris, 6, "W")

    # Locked: issuance refused with a clear error.
    status, _, doc = iris.call("POST", "/api/v1/credentials/issue", {"result_ids": ids})
    assert status == 409 and doc["reason"] == "locked", doc

    # Wrong password: 403, then throttled (429 with Retry-After), audited.
    status, _, doc = iris.call("POST", "/api/v1/wallet/unlock", {"password": WRONG_PW})
    assert status == 403 and doc["reason"] == "wrong_password", doc
    status, hdrs, doc = iris.call("POST", "/api/v1/wallet/unlock", {"password": WALLET_PW})
    assert status == 429 and doc["reason"] == "throttled", doc
    time.sleep(int(hdrs["retry-after"]) + 0.2)
    status, _, doc = iris.call("POST", "/api/v1/wallet/unlock", {"password": WALLET_PW})
    assert status == 200 and doc["state"] == "unlocked", doc
    assert 850 <= doc["seconds_left"] <= 900 and doc["unlocked_by"] == "user:iris"
    unlocks = [e for e in audit_entries(d) if e["action"] == "wallet.unlock"]
    assert [e["outcome"] for e in unlocks][-3:] == ["failure", "denied", "success"], unlocks

    # Extend.
    status, _, doc = iris.call("POST", "/api/v1/wallet/extend", {"window_seconds": 1200})
    assert status == 200 and doc["seconds_left"] > 1100

    # Derivation: public only.
    status, _, raw = iris.call("GET", "/api/v1/wallet/derive?path=m/44'/0'/0'/0/0")
    assert status == 200, raw
    assert raw["xpub"].startswith("xpub") and len(raw["public_key"]) == 66
    assert "xprv" not in json.dumps(raw)
    status, _, _ = iris.call("GET", "/api/v1/wallet/derive?path=m/44'/0'/x")
    assert status == 400

    # Support cannot issue; the issuer can.
    assert sam.call("POST", "/api/v1/credentials/issue", {"result_ids": ids})[0] == 403
    status, _, doc = iris.call("POST", "/api/v1/credentials/issue", {"result_ids": [failed_id]})
    assert status == 422 and doc["reason"] == "not_issuable"
    status, _, batch = iris.call("POST", "/api/v1/credentials/issue", {"result_ids": ids, "profile": 2})
    assert status == 201, batch
    assert batch["count"] == 6 and batch["derivation_path"] == "m/44'/0'/2'/0/0"
    files = batch["credentials"]
    assert len(files) == 6
    # The signing key is the wallet's key at the path.
    _, _, derived = iris.call("GET", "/api/v1/wallet/derive?path=m/44'/0'/2'/0/0")
    assert derived["public_key"] == batch["public_key"]
    # Results carry their credential id.
    _, _, res = iris.call("GET", f"/api/v1/results/{ids[0]}")
    assert res["credential_id"] == files[0]["credential"]["id"]
    # Again: refused.
    status, _, doc = iris.call("POST", "/api/v1/credentials/issue", {"result_ids": ids[:1]})
    assert status == 409 and doc["reason"] == "already_issued"

    # Verification: API, CLI (offline + online), independent Python.
    for f in files:
        assert independent_verify(f) is None, independent_verify(f)
        status, _, v = iris.call("POST", "/api/v1/credentials/verify", raw=json.dumps(f).encode(),
                                 content_type="application/json")
        assert status == 200 and v["status"] == "valid" and v["issuer_key_matches"] is True, v
    path = tmp_path / "cred.json"
    path.write_text(json.dumps(files[1], indent=2, ensure_ascii=False))
    r = ctl(d, "credential", "verify", str(path))
    assert r.returncode == 0 and r.stdout.startswith("valid"), r.stdout + r.stderr
    r = ctl(d, "credential", "verify", "--offline", str(path))
    assert r.returncode == 0 and "not checked" in r.stdout

    # Tampering with any field, the path or the signature is detected.
    def tampered(mutate):
        f = copy.deepcopy(files[1])
        mutate(f)
        return f

    def flip(h, i=0):
        return h[:i] + ("1" if h[i] == "0" else "0") + h[i + 1:]

    cases = {
        "recipient": lambda f: f["credential"]["recipient"].__setitem__("name", "Mallory"),
        "achievement": lambda f: f["credential"]["achievement"].__setitem__("name", "Other course"),
        "issued_at": lambda f: f["credential"].__setitem__("issued_at", "2031-01-01T00:00:00Z"),
        "path": lambda f: f["proof"]["merkle_path"][0].__setitem__("hash", flip(f["proof"]["merkle_path"][0]["hash"], 5)),
        "position": lambda f: f["proof"]["merkle_path"][0].__setitem__(
            "position", "left" if f["proof"]["merkle_path"][0]["position"] == "right" else "right"),
        "root": lambda f: f["proof"].__setitem__("merkle_root", flip(f["proof"]["merkle_root"])),
        "signature": lambda f: f["proof"].__setitem__("signature", flip(f["proof"]["signature"], len(f["proof"]["signature"]) - 3)),
        "public_key": lambda f: f["proof"].__setitem__("public_key", derived["public_key"][:2] + flip(derived["public_key"][2:], 4)),
    }
    for name, mutate in cases.items():
        f = tampered(mutate)
        assert independent_verify(f) is not None, name
        status, _, v = iris.call("POST", "/api/v1/credentials/verify", raw=json.dumps(f).encode(),
                                 content_type="application/json")
        assert status == 200 and v["valid"] is False and v["status"] == "invalid", (name, v)
        path.write_text(json.dumps(f))
        r = ctl(d, "credential", "verify", "--offline", str(path))
        assert r.returncode == 1 and "INVALID" in r.stdout, (name, r.stdout)

    # Revocation: per issuer profile, reported online.
    cid = files[2]["credential"]["id"]
    status, _, doc = iris.call("POST", f"/api/v1/credentials/{cid}/revoke", {"reason": "issued in error"})
    assert status == 200, doc
    status, _, doc = iris.call("GET", "/api/v1/credentials/revocations?profile=2")
    assert [x["id"] for x in doc["revoked"]] == [cid]
    _, _, doc = iris.call("GET", "/api/v1/credentials/revocations?profile=0")
    assert doc["revoked"] == []
    status, _, v = iris.call("POST", "/api/v1/credentials/verify", raw=json.dumps(files[2]).encode(),
                             content_type="application/json")
    assert v["status"] == "revoked" and v["revoked"] is True
    path.write_text(json.dumps(files[2]))
    r = ctl(d, "credential", "verify", str(path))
    assert r.returncode == 1 and "REVOKED" in r.stdout
    status, _, stored = iris.call("GET", f"/api/v1/credentials/{files[3]['credential']['id']}")
    assert status == 200 and stored == files[3]

    # Audited with batch and count.
    issued = [e for e in audit_entries(d) if e["action"] == "credential.issue" and e["outcome"] == "success"]
    assert len(issued) == 1 and batch["batch_id"] in issued[0]["detail"] and "count 6" in issued[0]["detail"]
    assert any(e["action"] == "wallet.derive" for e in audit_entries(d))
    assert any(e["action"] == "credential.revoke" for e in audit_entries(d))

    # Lock: issuance refused again.
    status, _, doc = iris.call("POST", "/api/v1/wallet/lock")
    assert status == 200 and doc["state"] == "locked"
    more, _ = make_results(iris, 1, "W2")
    status, _, doc = iris.call("POST", "/api/v1/credentials/issue", {"result_ids": more})
    assert status == 409 and doc["reason"] == "locked"
    # Public keys below the profile's account stay derivable while locked.
    status, _, doc = iris.call("GET", "/api/v1/wallet/derive?path=m/44'/0'/2'/0/7")
    assert status == 200 and doc["from_cache"] is True
    status, _, doc = iris.call("GET", "/api/v1/wallet/derive?path=m/44'/0'/5'")
    assert status == 409 and doc["reason"] == "locked"

    # Logout of the unlocking user closes the window.
    status, _, doc = iris.call("POST", "/api/v1/wallet/unlock", {"password": WALLET_PW})
    assert status == 200 and doc["state"] == "unlocked"
    assert iris.call("DELETE", "/api/v1/session")[0] in (200, 204)
    root = Client(d, "root")
    for _ in range(50):
        _, _, doc = root.call("GET", "/api/v1/wallet")
        if doc["state"] == "locked":
            break
        time.sleep(0.1)
    assert doc["state"] == "locked"

    # CLI unlock, then a restart locks.
    r = ctl(d, "wallet", "unlock", "--password-stdin", "--window", "600", input=WALLET_PW + "\n")
    assert r.returncode == 0 and "unlocked" in r.stdout, r.stderr
    r = ctl(d, "wallet", "derive", "m/44'/0'/1'")
    assert r.returncode == 0 and "xpub" in r.stdout and "xprv" not in r.stdout
    status_text = ctl(d, "status").stdout
    assert "wallet" in status_text and "unlocked" in status_text
    d.stop()
    d.start()
    st = json.loads(ctl(d, "--json", "wallet", "status").stdout)
    assert st["state"] == "locked"
    assert "locked" in ctl(d, "status").stdout

    # Secrets never in the daemon's log (journal fields go to stderr here).
    log = d.read_log()
    assert "wallet.unlock_failed" in log or "unlock failed" in log
    for secret in (WALLET_PW, WRONG_PW, mnemonic, " ".join(words[:4])):
        assert secret not in log
        assert secret not in init_err


# --- init from the console (HTTPS, an administrator's session) -------------

WEAK_PW = "Wal1et-weak"  # 11 characters: below the policy's 12


def test_wallet_init_over_https(env):
    d = env
    root = Client(d, "root")    # admin
    iris = Client(d, "iris")    # issuer
    otto = Client(d, "otto")    # operator

    # Only an administrator may start it; other roles get the matrix's 403.
    for c in (iris, otto, Client(d, "sam"), Client(d, "aud")):
        status, _, doc = c.call("POST", "/api/v1/wallet/init", {"password": WALLET_PW})
        assert status == 403, doc
        assert c.call("POST", "/api/v1/wallet/init/confirm", {"id": "x", "words": {}})[0] == 403

    # Not with an API token, even an admin's: a script never gets the words.
    status, _, tok = root.call("POST", "/api/v1/tokens", {"name": "ci", "role": "admin", "expires_in_days": 1})
    assert status == 201, tok
    bearer = {"Authorization": "Bearer " + tok["token"]}
    assert d.https("GET", "/api/v1/wallet", headers=bearer)[0] == 200  # the token itself works
    status, _, body = d.https("POST", "/api/v1/wallet/init", {"password": WALLET_PW}, headers=bearer)
    assert status == 403 and b"mnemonic" not in body, body
    assert d.https("POST", "/api/v1/wallet/init/confirm", {"id": "x", "words": {}}, headers=bearer)[0] == 403
    assert "denied POST /api/v1/wallet/init to root (admin): not with an API token" in d.read_log()

    # A session request without the CSRF header is refused.
    status, _, body = d.https("POST", "/api/v1/wallet/init", {"password": WALLET_PW}, headers={"Cookie": root.cookie})
    assert status == 403 and b"X-CSRF-Token" in body and b"mnemonic" not in body, body

    # The issuing password follows the account password policy.
    status, _, doc = root.call("POST", "/api/v1/wallet/init", {"password": WEAK_PW})
    assert status == 422 and doc["reason"] == "policy", doc
    status, _, doc = root.call("POST", "/api/v1/wallet/init", {"password": WALLET_PW, "passphrase": "café"})
    assert status == 422 and doc["reason"] == "bad_passphrase", doc
    status, _, doc = root.call("POST", "/api/v1/wallet/init", {})
    assert status == 400 and doc["reason"] == "bad_request", doc

    status, hdrs, started = root.call("POST", "/api/v1/wallet/init", {"password": WALLET_PW})
    assert status == 201, started
    assert hdrs["cache-control"] == "no-store"
    words = started["mnemonic"].split(" ")
    assert len(words) == 24 and all(re.fullmatch(r"[a-z]{3,8}", w) for w in words), words
    positions = started["confirm_positions"]
    assert len(positions) == 3 and len(set(positions)) == 3 and all(1 <= p <= 24 for p in positions)
    right = {str(p): words[p - 1] for p in positions}
    # Nothing is stored before the confirmation.
    assert root.call("GET", "/api/v1/wallet")[2]["state"] == "not_initialized"

    # Wrong words: 422, nothing stored; the same id may try again.
    wrong = dict(right)
    wrong[str(positions[0])] = "zoo" if words[positions[0] - 1] != "zoo" else "abandon"
    status, _, doc = root.call("POST", "/api/v1/wallet/init/confirm", {"id": started["id"], "words": wrong})
    assert status == 422 and doc["reason"] == "bad_confirmation", doc
    status, _, doc = root.call("POST", "/api/v1/wallet/init/confirm",
                               {"id": started["id"], "words": {k: v for k, v in list(right.items())[:2]}})
    assert status == 422 and doc["reason"] == "bad_confirmation", doc
    assert root.call("GET", "/api/v1/wallet")[2]["state"] == "not_initialized"
    status, _, doc = root.call("POST", "/api/v1/wallet/init/confirm", {"id": started["id"], "words": {"x": "y"}})
    assert status == 400 and doc["reason"] == "bad_request", doc
    # The issuer cannot unlock what does not exist yet.
    status, _, doc = iris.call("POST", "/api/v1/wallet/unlock", {"password": WALLET_PW})
    assert status == 409 and doc["reason"] == "not_initialized", doc

    # The right words (any case, surrounding spaces) store the wallet.
    typed = {k: f" {v.upper()} " for k, v in right.items()}
    status, hdrs, doc = root.call("POST", "/api/v1/wallet/init/confirm", {"id": started["id"], "words": typed})
    assert status == 200 and doc["state"] == "locked" and doc["initialized"], doc
    fingerprint = doc["master_fingerprint"]
    assert re.fullmatch(r"[0-9a-f]{8}", fingerprint)
    # Confirmed once: the id is spent.
    status, _, doc = root.call("POST", "/api/v1/wallet/init/confirm", {"id": started["id"], "words": right})
    assert status == 409 and doc["reason"] == "no_pending_init", doc

    # The stored wallet opens with the issuing password (an issuer unlocks).
    status, _, doc = iris.call("POST", "/api/v1/wallet/unlock", {"password": WALLET_PW})
    assert status == 200 and doc["state"] == "unlocked" and doc["master_fingerprint"] == fingerprint, doc
    # And it is the wallet of those words: importing them elsewhere is not
    # possible here, but the CLI sees the same fingerprint.
    st = json.loads(ctl(d, "--json", "wallet", "status").stdout)
    assert st["master_fingerprint"] == fingerprint and st["state"] == "unlocked"

    # A second init is refused, from the console and from the CLI.
    status, _, doc = root.call("POST", "/api/v1/wallet/init", {"password": WALLET_PW})
    assert status == 409 and doc["reason"] == "already_initialized" and "mnemonic" not in doc, doc
    r = ctl(d, "wallet", "init", "--password-stdin", input=WALLET_PW + "\n")
    assert r.returncode == 1 and "already initialized" in r.stderr, r.stderr

    # Audited under the administrator's name, without the words.
    entries = audit_entries(d)
    inits = [(e["action"], e["outcome"], e["actor"]) for e in entries if e["action"].startswith("wallet.init")]
    assert ("wallet.init_started", "success", "user:root") in inits, inits
    assert ("wallet.init_confirm", "failure", "user:root") in inits, inits
    assert ("wallet.init", "success", "user:root") in inits, inits
    exported = json.dumps(entries)

    # Neither the words nor a password in the daemon's log or the audit log.
    log = d.read_log()
    assert "issuing wallet initialized" in log
    mnemonic = started["mnemonic"]
    for secret in (WALLET_PW, WEAK_PW, mnemonic, " ".join(words[:3]), " ".join(words[-3:])):
        assert secret not in log, secret
        assert secret not in exported, secret

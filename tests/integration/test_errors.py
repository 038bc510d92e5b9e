"""The one error model over real TLS: each kind of failure answers with an
RFC 9457 problem document carrying its documented `code` and a
`correlation_id`, and no response body holds a server path or library text.
An internal failure's detail is in the journal under the id the client got."""
import json
import re

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from authclient import ADMIN, ADMIN_PW, Client, add_user, raw_request

WALLET_PW = "Issuing-Seed-Pass-7x!"
# BIP39's first English test vector (a valid checksum).
MNEMONIC = " ".join(["abandon"] * 11 + ["about"])
LEAKS = re.compile(r"/(tmp|var|etc|usr|home|root|proc)/|boost|sqlite|std::|exception|what\(\)", re.I)


@pytest.fixture
def d(daemon_factory, tmp_path):
    d = daemon_factory("errors")
    pub = X25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    key = "\n".join("    " + line for line in pub.strip().splitlines())
    # A regular file where the backup directory's parent should be: the run
    # fails inside the daemon with an error that names the path.
    (tmp_path / "not-a-directory").write_text("")
    d.write_config(f"""backup:
  schedule: "off"
  local_directory: {tmp_path / 'not-a-directory' / 'backups'}
  recovery_public_key: |
{key}
""")
    d.start()
    add_user(d, ADMIN, "admin", ADMIN_PW)
    add_user(d, "otto", "operator", "Operator-Pass-1234")
    yield d
    assert d.stop() == 0, d.read_log()


def signed_in(d, user, pw):
    c = Client(d)
    assert c.login(user, pw)[0] == 201
    return c


def check_problem(status, headers, doc, expected_status, code):
    assert status == expected_status, (status, doc)
    assert headers["content-type"] == "application/problem+json"
    assert doc["status"] == expected_status and doc["code"] == code, doc
    assert re.fullmatch(r"[0-9a-f]{16}", doc["correlation_id"]), doc
    text = json.dumps(doc)
    assert not LEAKS.search(text), text


def test_each_error_path_has_its_code_and_a_correlation_id(d):
    admin = signed_in(d, ADMIN, ADMIN_PW)
    # A malformed body.
    status, doc = admin.request("POST", "/api/v1/recipients", b"{{{{", headers={"Content-Type": "application/json"})
    check_problem(status, admin.last_headers, doc, 400, "invalid_argument")
    # A body of the wrong type.
    status, doc = admin.request("POST", "/api/v1/recipients", b"a=1",
                                headers={"Content-Type": "application/x-www-form-urlencoded"})
    check_problem(status, admin.last_headers, doc, 415, "unsupported_media_type")
    # Field errors.
    status, doc = admin.request("POST", "/api/v1/recipients", {"external_id": "", "name": "", "email": "x"})
    check_problem(status, admin.last_headers, doc, 422, "validation_failed")
    assert {e["field"] for e in doc["errors"]} >= {"external_id", "email"}
    # An unknown route, and a known one with another method.
    status, doc = admin.request("GET", "/api/v1/no-such-thing")
    check_problem(status, admin.last_headers, doc, 404, "not_found")
    status, doc = admin.request("PUT", "/api/v1/recipients")
    check_problem(status, admin.last_headers, doc, 405, "method_not_allowed")
    assert "GET" in admin.last_headers["allow"]
    # No credential, and a missing permission.
    anonymous = Client(d)
    status, doc = anonymous.request("GET", "/api/v1/recipients")
    check_problem(status, anonymous.last_headers, doc, 401, "unauthenticated")
    otto = signed_in(d, "otto", "Operator-Pass-1234")
    status, doc = otto.request("GET", "/api/v1/recipients")
    check_problem(status, otto.last_headers, doc, 403, "forbidden")
    assert doc["reason"] == "role"
    # The wallet: not there yet, then there but locked.
    status, doc = admin.request("POST", "/api/v1/wallet/unlock", {"password": WALLET_PW})
    check_problem(status, admin.last_headers, doc, 409, "not_configured")
    assert doc["reason"] == "not_initialized"
    d.ctl("wallet", "init", "--import", "--password-stdin", input=f"{WALLET_PW}\n{MNEMONIC}\n")
    status, doc = admin.request("POST", "/api/v1/wallet/extend", {})
    check_problem(status, admin.last_headers, doc, 409, "locked")
    assert doc["reason"] == "locked"


def test_an_internal_failure_hides_its_detail_and_the_journal_has_it(d):
    admin = signed_in(d, ADMIN, ADMIN_PW)
    status, doc = admin.request("POST", "/api/v1/backups", {})
    check_problem(status, admin.last_headers, doc, 500, "internal")
    log = d.read_log()
    entries = [line for line in log.splitlines() if doc["correlation_id"] in line]
    assert entries, log[-3000:]
    assert "http.internal_error" in entries[0] and "not-a-directory" in entries[0], entries
    # The same failure on the control socket: the host's administrator gets
    # the detail (exit 1), with the code.
    r = d.ctl("--json", "backup", "run", check=False)
    assert r.returncode == 1, r
    answer = json.loads(r.stdout)
    assert answer["code"] == "internal" and "not-a-directory" in answer["error"], answer


def test_server_level_errors_are_problem_documents_too(d):
    status, headers, body = raw_request(d, b"GET / HTTP/1.1\r\nHost: localhost\r\nX-Big: " + b"a" * 70000 + b"\r\n\r\n")
    doc = json.loads(body)
    check_problem(status, headers, doc, 431, "headers_too_large")

"""GET /api/v1/health against the real daemon over TLS: it needs a session
or an API token (401 without), it gives each component's state and the
detail that says why (the certificate's expiry, the wallet not created yet,
then locked), and the anonymous /healthz keeps the same states without any
detail (it may be reachable by anyone)."""
import json
import subprocess

import pytest

from authclient import ADMIN, ADMIN_PW, Client, add_user, configure, make_web_root
from test_records import needs_auth

# The BIP39 test vector: a valid checksum, nothing to keep secret.
MNEMONIC = " ".join(["abandon"] * 11 + ["about"])
WALLET_PW = "Issuing-Seed-Pass-7x!"


@pytest.fixture
def d(daemon_factory, tmp_path):
    """A daemon whose certificate expires in 10 days (degraded, with a
    reason), at the path the test client trusts."""
    needs_auth()
    d = daemon_factory("health")
    tls = d.state / "tls"
    tls.mkdir(mode=0o700)
    key, cert = tls / "expiring-key.pem", d.certificate
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "10", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    key.chmod(0o600)
    configure(d, make_web_root(tmp_path / "web"), extra=f"tls:\n  certificate: {cert}\n  private_key: {key}\n")
    d.start()
    add_user(d, ADMIN, "admin", ADMIN_PW)
    yield d
    assert d.stop() == 0, d.read_log()


def test_needs_a_session_or_token(d):
    status, doc = Client(d).request("GET", "/api/v1/health")
    assert status == 401, doc
    bogus = Client(d)
    bogus.bearer = "pst_" + "0" * 40
    assert bogus.request("GET", "/api/v1/health")[0] == 401


def test_every_signed_in_role_and_a_token_get_the_details(d):
    add_user(d, "sam", "support", "Support-Pass-123")
    sam = Client(d)
    assert sam.login("sam", "Support-Pass-123")[0] == 201
    status, doc = sam.request("GET", "/api/v1/health")
    assert status == 200, doc
    assert doc["components"]["certificate"]["detail"]

    admin = Client(d)
    assert admin.login(ADMIN, ADMIN_PW)[0] == 201
    status, tok = admin.request("POST", "/api/v1/tokens", {"name": "monitoring", "role": "auditor"})
    assert status == 201, tok
    api = Client(d)
    api.bearer = tok["token"]
    status, doc = api.request("GET", "/api/v1/health")
    assert status == 200, doc
    assert doc["components"]["certificate"]["detail"]


def test_components_with_their_reasons(d):
    admin = Client(d)
    assert admin.login(ADMIN, ADMIN_PW)[0] == 201
    status, doc = admin.request("GET", "/api/v1/health")
    assert status == 200, doc
    comps = doc["components"]
    # The certificate: degraded, and why (the CLI's text, not a bare state).
    assert comps["certificate"]["state"] == "degraded"
    assert comps["certificate"]["detail"] in ("expires in 9 days", "expires in 10 days"), comps["certificate"]
    assert doc["status"] == "degraded"
    # A fresh daemon has no wallet: ok (a setup step, not a fault) but it says so.
    assert comps["wallet"]["state"] == "ok"
    assert comps["wallet"]["detail"].startswith("uninitialized"), comps["wallet"]
    assert "Wallet" in comps["wallet"]["detail"]
    # The same document as privstackctl status (one health document, two doors).
    ctl = json.loads(d.ctl("--json", "status").stdout)
    assert {k: v for k, v in ctl["components"].items() if k != "wallet"} == \
        {k: v for k, v in comps.items() if k != "wallet"}

    # Once created, it is locked: normal, ok, and the detail says locked.
    d.ctl("wallet", "init", "--import", "--password-stdin", input=f"{WALLET_PW}\n{MNEMONIC}\n")
    status, doc = admin.request("GET", "/api/v1/health")
    assert status == 200
    assert doc["components"]["wallet"] == {"state": "ok", "detail": "locked"}


def test_anonymous_healthz_has_states_and_no_reasons(d):
    admin = Client(d)
    assert admin.login(ADMIN, ADMIN_PW)[0] == 201
    _, detailed = admin.request("GET", "/api/v1/health")
    status, _, body = d.https("GET", "/healthz")
    assert status == 200
    doc = json.loads(body)
    assert doc["status"] == detailed["status"] == "degraded"
    assert set(doc["components"]) == set(detailed["components"])
    for name, c in doc["components"].items():
        assert c == {"state": detailed["components"][name]["state"]}, (name, c)
    assert b"expires in" not in body and b"uninitialized" not in body

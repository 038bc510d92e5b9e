"""TLS policy of the console listener: testssl.sh (Debian's `testssl`)
grades the daemon and must report no vulnerability and nothing offered that
it marks weak; python's ssl checks the protocol and cipher rules directly;
certificate expiry shows in /healthz and the log 30 days ahead."""
import json
import shutil
import socket
import ssl
import subprocess

import pytest

from authclient import configure, make_web_root

TESTSSL = shutil.which("testssl") or shutil.which("testssl.sh")
BAD = {"LOW", "MEDIUM", "HIGH", "CRITICAL"}
# Findings that are not about our TLS policy: the test certificate is
# self-signed (the trust chain is reported, not a weakness of the server).
NOT_POLICY = {"cert_chain_of_trust", "cert_trust"}


@pytest.fixture
def d(daemon_factory, tmp_path):
    d = daemon_factory("tls")
    configure(d, make_web_root(tmp_path / "web"))
    d.start()
    yield d
    assert d.stop() == 0, d.read_log()


@pytest.mark.skipif(TESTSSL is None, reason="testssl.sh is not installed (scripts/setup installs it)")
def test_testssl_reports_no_vulnerability_and_nothing_weak(d, tmp_path):
    out = tmp_path / "testssl.json"
    cmd = [TESTSSL, "--quiet", "--color", "0", "--warnings", "off", "--nodns", "none", "--add-ca", str(d.certificate),
           "--openssl-timeout", "10", "--jsonfile", str(out), "-p", "-s", "-f", "-P", "-U", "-h",
           f"https://127.0.0.1:{d.port}/"]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert out.exists(), r.stdout + r.stderr
    findings = json.loads(out.read_text())
    bad = [f for f in findings if f.get("severity") in BAD and f.get("id") not in NOT_POLICY]
    assert not bad, json.dumps(bad, indent=1)
    by_id = {f["id"]: f for f in findings}
    for proto in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        assert "not offered" in by_id[proto]["finding"], by_id[proto]
    assert "offered" in by_id["TLS1_2"]["finding"] and "offered" in by_id["TLS1_3"]["finding"]


def handshake(d, **kw):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(str(d.certificate))
    for k, v in kw.items():
        if k == "ciphers":
            ctx.set_ciphers(v)
        else:
            setattr(ctx, k, v)
    with socket.create_connection(("127.0.0.1", d.port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            return s.version(), s.cipher()[0], s.compression(), s.session


def test_protocols_and_ciphers(d):
    version, cipher, compression, _ = handshake(d)
    assert version == "TLSv1.3" and compression is None
    # TLS 1.2: ECDHE + AEAD only, AES-256-GCM preferred by the server.
    v, c, _, _ = handshake(d, maximum_version=ssl.TLSVersion.TLSv1_2,
                           ciphers="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305:"
                                   "ECDHE-ECDSA-AES256-GCM-SHA384")
    assert (v, c) == ("TLSv1.2", "ECDHE-ECDSA-AES256-GCM-SHA384")
    v, c, _, _ = handshake(d, maximum_version=ssl.TLSVersion.TLSv1_2,
                           ciphers="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-CHACHA20-POLY1305")
    assert c == "ECDHE-ECDSA-CHACHA20-POLY1305"
    for refused in ("ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA",  # CBC
                    "AES256-GCM-SHA384:AES128-GCM-SHA256"):  # no forward secrecy
        with pytest.raises(ssl.SSLError):
            handshake(d, maximum_version=ssl.TLSVersion.TLSv1_2, ciphers=refused)
    with pytest.raises((ssl.SSLError, ConnectionResetError)):
        handshake(d, minimum_version=ssl.TLSVersion.TLSv1, maximum_version=ssl.TLSVersion.TLSv1_1,
                  ciphers="ALL:@SECLEVEL=0")


def test_no_session_tickets(d):
    _, _, _, session = handshake(d, maximum_version=ssl.TLSVersion.TLSv1_2)
    assert session is None or not session.has_ticket


def test_certificate_expiring_within_30_days_is_reported(daemon_factory, tmp_path):
    d = daemon_factory("expiring")
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(key), "-out", str(cert), "-days", "10", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"], check=True, capture_output=True)
    key.chmod(0o600)
    configure(d, make_web_root(tmp_path / "web"),
              extra=f"tls:\n  certificate: {cert}\n  private_key: {key}\n")
    d.start()
    ctx = ssl.create_default_context(cafile=str(cert))
    import http.client
    conn = http.client.HTTPSConnection("localhost", d.port, context=ctx, timeout=10)
    conn.request("GET", "/healthz")
    doc = json.loads(conn.getresponse().read())
    assert doc["components"]["certificate"]["state"] == "degraded"
    assert "detail" not in doc["components"]["certificate"]  # anonymous: no details
    assert "tls.certificate_expiring" in d.read_log()
    assert d.stop() == 0

"""Authentication and access control against the real daemon over TLS:
first admin over the control socket, login/logout, cookie attributes, CSRF
and Origin checks, lockout and release, TOTP with oathtool, API tokens, and
every role against every endpoint."""
import datetime
import json
import subprocess
import time

import pytest

from authclient import ADMIN, ADMIN_PW, ROLES, Client, add_user, configure, login_retrying, make_web_root


@pytest.fixture
def d(daemon_factory, tmp_path):
    d = daemon_factory("auth")
    configure(d, make_web_root(tmp_path / "web"),
              extra="auth:\n  lockout_threshold: 3\n  lockout_duration: 4s\n")
    d.start()
    yield d
    assert d.stop() == 0, d.read_log()


def test_login_closed_until_first_admin_then_open(d):
    status, doc = Client(d).login("root", "Whatever-Password-1")
    assert status == 503
    assert "privstackctl user add" in doc["detail"]
    # Weak passwords are refused by the CLI path too (no default password, ever).
    r = d.ctl("user", "add", ADMIN, "--role", "admin", "--password-stdin", input="password123\n", check=False)
    assert r.returncode == 1 and "password" in r.stderr.lower()
    add_user(d, ADMIN, "admin", ADMIN_PW)
    listed = json.loads(d.ctl("--json", "user", "list").stdout)
    assert [u["name"] for u in listed] == [ADMIN] and listed[0]["role"] == "admin"
    assert "password_hash" not in json.dumps(listed)
    status, doc = Client(d).login(ADMIN, ADMIN_PW)
    assert status == 201 and doc["user"] == {"name": ADMIN, "role": "admin"}


def test_cookie_attributes_session_and_logout(d):
    add_user(d, ADMIN, "admin", ADMIN_PW)
    c = Client(d)
    status, doc = c.login(ADMIN, ADMIN_PW)
    assert status == 201
    cookie = c.last_headers["set-cookie"]
    name, _, rest = cookie.partition("=")
    assert name == "__Host-privstack_session"
    value = rest.split(";")[0]
    assert len(value) == 43  # 256 random bits, base64url
    attrs = [a.strip() for a in cookie.split(";")[1:]]
    for a in ("Secure", "HttpOnly", "SameSite=Strict", "Path=/"):
        assert a in attrs, cookie
    assert not any(a.lower().startswith("domain") for a in attrs)
    assert len(doc["csrf_token"]) >= 32

    status, me = c.request("GET", "/api/v1/session")
    assert status == 200 and me["user"]["name"] == ADMIN and me["csrf_token"] == doc["csrf_token"]
    # A second login gets a new token.
    c2 = Client(d)
    c2.login(ADMIN, ADMIN_PW)
    assert c2.cookie != c.cookie
    # Logout works at once.
    status, _ = c.request("DELETE", "/api/v1/session")
    assert status == 204
    assert "Max-Age=0" in c.last_headers["set-cookie"]
    assert c.request("GET", "/api/v1/session")[0] == 401
    assert c2.request("GET", "/api/v1/session")[0] == 200
    log = d.read_log()
    assert "auth.login_succeeded" in log and "auth.logout" in log
    assert value not in log  # the token is never logged


def test_csrf_and_origin_checks(d):
    add_user(d, ADMIN, "admin", ADMIN_PW)
    c = Client(d)
    c.login(ADMIN, ADMIN_PW)
    body = {"name": "olga", "role": "operator", "password": "Operator-Pass-123"}
    assert c.request("POST", "/api/v1/users", body, csrf=False)[0] == 403
    assert c.request("POST", "/api/v1/users", body, headers={"X-CSRF-Token": "forged"})[0] == 403
    assert c.request("POST", "/api/v1/users", body, headers={"Origin": "https://evil.example"})[0] == 403
    status, doc = c.request("POST", "/api/v1/users", body)
    assert status == 201 and doc["role"] == "operator"
    # Login from a foreign origin is refused too.
    evil = Client(d)
    assert evil.request("POST", "/api/v1/session", {"username": ADMIN, "password": ADMIN_PW},
                        headers={"Origin": "https://evil.example"})[0] == 403
    assert "auth.permission_denied" in d.read_log()


def test_lockout_after_failures_and_release_after_window(d):
    add_user(d, ADMIN, "admin", ADMIN_PW)
    c = Client(d)
    for i in range(3):  # lockout_threshold: 3
        status, _ = login_retrying(c, ADMIN, f"Wrong-Password-{i}x")
        assert status == 401
    status, doc = c.login(ADMIN, ADMIN_PW)  # right password, but locked
    assert status == 429
    assert int(c.last_headers["retry-after"]) >= 1
    assert "auth.lockout" in d.read_log()
    time.sleep(4.2)  # lockout_duration: 4s
    assert c.login(ADMIN, ADMIN_PW)[0] == 201


def timed_failed_login(d, user, password):
    """Duration of one failed login attempt, after any throttling wait."""
    while True:
        c = Client(d)
        t0 = time.monotonic()
        status, doc = c.login(user, password)
        elapsed = time.monotonic() - t0
        if status != 429:
            return status, doc, elapsed
        time.sleep(float(c.last_headers.get("retry-after", "1")))


def test_failed_login_does_not_reveal_whether_user_exists(d):
    add_user(d, ADMIN, "admin", ADMIN_PW)
    timings = {"known": [], "unknown": []}
    bodies = {}
    for i in range(4):
        for kind, user in (("known", ADMIN), ("unknown", f"ghost{i}")):
            status, doc, elapsed = timed_failed_login(d, user, f"Wrong-Password-{i}y")
            assert status == 401
            timings[kind].append(elapsed)
            bodies[kind] = doc
        d.ctl("user", "unlock", ADMIN)  # keep the account below its lockout threshold
    # The same document but for the correlation id, which each error has its own of.
    for doc in bodies.values():
        assert len(doc.pop("correlation_id")) == 16
    assert bodies["known"] == bodies["unknown"]
    med = lambda xs: sorted(xs)[len(xs) // 2]
    # Both run Argon2id with the same parameters: the medians are close.
    assert abs(med(timings["known"]) - med(timings["unknown"])) < 0.05 + 0.5 * med(timings["known"]), timings


def oathtool(secret, at=None):
    args = ["oathtool", "--totp", "-b", secret]
    if at is not None:
        args += ["-N", f"@{int(at)}"]
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout.strip()


def test_totp_enrollment_and_login_with_oathtool(d):
    add_user(d, ADMIN, "admin", ADMIN_PW)
    c = Client(d)
    c.login(ADMIN, ADMIN_PW)
    status, doc = c.request("POST", "/api/v1/users/me/totp")
    assert status == 201
    assert doc["otpauth_uri"].startswith(f"otpauth://totp/privstack:{ADMIN}?secret={doc['secret']}")
    assert len(doc["recovery_codes"]) == 10
    secret = doc["secret"]
    now = time.time()
    code = oathtool(secret, now)
    status, _ = c.request("PUT", "/api/v1/users/me/totp", {"code": code})
    assert status == 200
    # Password alone: asked for the code.
    status, doc2 = Client(d).login(ADMIN, ADMIN_PW)
    assert status == 401 and doc2["totp_required"] is True
    # The code used for enrollment cannot be replayed.
    assert login_retrying(Client(d), ADMIN, ADMIN_PW, code)[0] == 401
    time.sleep(0.6)
    # The next step's code from oathtool works (one step of skew allowed).
    status, _ = login_retrying(Client(d), ADMIN, ADMIN_PW, oathtool(secret, now + 30))
    assert status == 201
    # A recovery code works once.
    rc = doc["recovery_codes"][0]
    assert login_retrying(Client(d), ADMIN, ADMIN_PW, rc)[0] == 201
    assert login_retrying(Client(d), ADMIN, ADMIN_PW, rc)[0] == 401
    assert "auth.totp_failed" in d.read_log()


def last_sign_in(d, name):
    """The user's last_sign_in as privstackctl reports it (the control socket)."""
    users = {u["name"]: u for u in json.loads(d.ctl("--json", "user", "list").stdout)}
    return users[name]["last_sign_in"]


def unix(rfc3339):
    return datetime.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def test_last_sign_in_time_and_method_survive_a_restart(d):
    add_user(d, ADMIN, "admin", ADMIN_PW)
    add_user(d, "olga", "operator", "Operator-Pass-123")
    assert last_sign_in(d, ADMIN) is None and last_sign_in(d, "olga") is None
    human = d.ctl("user", "list").stdout.splitlines()
    assert "LAST SIGN-IN" in human[0]
    assert all(" never" in line for line in human[1:]), human

    c = Client(d)
    before = int(time.time())
    assert c.login(ADMIN, ADMIN_PW)[0] == 201
    after = int(time.time()) + 1
    status, me = c.request("GET", f"/api/v1/users/{ADMIN}")
    assert status == 200 and me["last_sign_in"]["method"] == "password"
    assert before <= unix(me["last_sign_in"]["at"]) <= after
    status, listed = c.request("GET", "/api/v1/users")
    by_name = {u["name"]: u for u in listed["users"]}
    assert by_name[ADMIN]["last_sign_in"] == me["last_sign_in"]
    assert by_name["olga"]["last_sign_in"] is None
    # A wrong password is no sign-in.
    assert Client(d).login("olga", "Wrong-Password-123")[0] == 401
    assert last_sign_in(d, "olga") is None

    # With TOTP: the method says so, once the second factor was given.
    status, doc = c.request("POST", "/api/v1/users/me/totp")
    assert status == 201
    now = time.time()
    assert c.request("PUT", "/api/v1/users/me/totp", {"code": oathtool(doc["secret"], now)})[0] == 200
    assert login_retrying(Client(d), ADMIN, ADMIN_PW)[0] == 401  # the code is asked for: no sign-in yet
    assert last_sign_in(d, ADMIN)["method"] == "password"
    assert login_retrying(Client(d), ADMIN, ADMIN_PW, oathtool(doc["secret"], now + 30))[0] == 201
    assert last_sign_in(d, ADMIN)["method"] == "password+totp"

    assert d.stop() == 0, d.read_log()
    d.start()
    assert last_sign_in(d, ADMIN)["method"] == "password+totp"
    assert last_sign_in(d, "olga") is None
    assert "password+totp" in [line for line in d.ctl("user", "list").stdout.splitlines() if line.startswith(ADMIN)][0]
    # A recovery code in place of the code.
    assert login_retrying(Client(d), ADMIN, ADMIN_PW, doc["recovery_codes"][0])[0] == 201
    assert last_sign_in(d, ADMIN)["method"] == "password+recovery_code"


def test_password_policy_published_and_errors_at_the_field(d):
    add_user(d, ADMIN, "admin", ADMIN_PW)
    assert Client(d).request("GET", "/api/v1/password-policy")[0] == 401
    c = Client(d)
    c.login(ADMIN, ADMIN_PW)
    status, policy = c.request("GET", "/api/v1/password-policy")
    assert status == 200
    assert policy["min_length"] == 12 and policy["min_character_classes"] == 3
    assert policy["any_classes_from_length"] == 16 and policy["rejects_common"] is True
    status, doc = c.request("POST", "/api/v1/users", {"name": "olga", "role": "operator", "password": "Short-1"})
    assert status == 422
    assert doc["errors"] == [{"field": "password", "message": "The password must be at least 12 characters long."}]
    status, doc = c.request("POST", "/api/v1/users", {"name": "Olga!", "role": "operator", "password": "Operator-Pass-123"})
    assert status == 422 and [e["field"] for e in doc["errors"]] == ["name"]
    status, doc = c.request("PUT", f"/api/v1/users/{ADMIN}/password",
                            {"current_password": ADMIN_PW, "new_password": "aaaaaaaaaaaaaaaaaaaa"})
    assert status == 422 and doc["errors"][0]["field"] == "new_password"


def test_api_tokens_bearer_scope_and_revocation(d):
    add_user(d, ADMIN, "admin", ADMIN_PW)
    c = Client(d)
    c.login(ADMIN, ADMIN_PW)
    status, tok = c.request("POST", "/api/v1/tokens", {"name": "ci", "role": "auditor", "expires_in_days": 30})
    assert status == 201 and tok["token"].startswith("pst_")
    api = Client(d, origin=False)
    api.bearer = tok["token"]
    assert api.request("GET", "/api/v1/users")[0] == 200
    assert api.request("POST", "/api/v1/users", {"name": "x", "role": "admin", "password": "Xx-Password-123"})[0] == 403
    status, listed = c.request("GET", "/api/v1/tokens")
    assert tok["token"] not in json.dumps(listed)
    assert c.request("DELETE", f"/api/v1/tokens/{tok['id']}")[0] == 204
    assert api.request("GET", "/api/v1/users")[0] == 401
    assert "auth.token_used" in d.read_log()


def test_admin_revokes_all_sessions_and_lock_via_cli(d):
    add_user(d, ADMIN, "admin", ADMIN_PW)
    add_user(d, "ivy", "issuer", "Issuer-Pass-123")
    ivy1, ivy2, admin = Client(d), Client(d), Client(d)
    ivy1.login("ivy", "Issuer-Pass-123")
    ivy2.login("ivy", "Issuer-Pass-123")
    admin.login(ADMIN, ADMIN_PW)
    assert admin.request("DELETE", "/api/v1/users/ivy/sessions")[0] == 204
    assert ivy1.request("GET", "/api/v1/session")[0] == 401
    assert ivy2.request("GET", "/api/v1/session")[0] == 401
    ivy1.login("ivy", "Issuer-Pass-123")
    d.ctl("user", "lock", "ivy")
    assert ivy1.request("GET", "/api/v1/session")[0] == 401
    assert login_retrying(Client(d), "ivy", "Issuer-Pass-123")[0] == 401
    d.ctl("user", "unlock", "ivy")
    d.ctl("user", "passwd", "ivy", "--password-stdin", input="Issuer-Pass-456\n")
    assert login_retrying(Client(d), "ivy", "Issuer-Pass-456")[0] == 201


# Every endpoint for every role, and anonymous. The expectation is the
# permission matrix restated; a matrix denial is 401 (anonymous) or 403 with
# the matrix's own detail text (handlers may refuse for their own reasons).
ALL = set(ROLES)
ENDPOINTS = [
    ("GET", "/healthz", None, {"anon"} | ALL),
    ("GET", "/api/v1/health", None, ALL),
    ("GET", "/", None, {"anon"} | ALL),
    ("GET", "/api/v1/session", None, ALL),
    ("GET", "/api/v1/users", None, {"admin", "auditor"}),
    ("POST", "/api/v1/users", {}, {"admin"}),
    ("GET", "/api/v1/users/victim", None, {"admin", "auditor"}),
    ("GET", "/api/v1/users/me", None, ALL),
    ("PATCH", "/api/v1/users/victim", {}, {"admin"}),
    ("DELETE", "/api/v1/users/victim", None, {"admin"}),
    ("PUT", "/api/v1/users/victim/password", {}, {"admin"}),
    ("PUT", "/api/v1/users/me/password", {}, ALL),
    ("DELETE", "/api/v1/users/victim/sessions", None, {"admin"}),
    ("POST", "/api/v1/users/me/totp", None, ALL),
    ("PUT", "/api/v1/users/me/totp", {"code": "000000"}, ALL),
    ("DELETE", "/api/v1/users/me/totp", {}, ALL),
    ("GET", "/api/v1/tokens", None, ALL),
    ("POST", "/api/v1/tokens", {}, ALL),
    ("DELETE", "/api/v1/tokens/0000000000000000", None, ALL),
    ("GET", "/api/v1/audit", None, {"admin", "auditor"}),
    ("GET", "/api/v1/audit/verify", None, {"admin", "auditor"}),
    ("GET", "/api/v1/recipients", None, {"admin", "issuer", "support"}),
    ("POST", "/api/v1/recipients", {}, {"admin", "issuer"}),
    ("GET", "/api/v1/results", None, {"admin", "issuer", "support"}),
    ("POST", "/api/v1/results", {}, {"admin", "issuer"}),
    ("GET", "/api/v1/records/access-grants", None, {"admin", "issuer", "support"}),
]
MATRIX_DENIAL = "Your role does not allow this."


def test_every_role_against_every_endpoint(d):
    add_user(d, ADMIN, "admin", ADMIN_PW)
    clients = {"anon": Client(d)}
    for role in ROLES:
        name = "admin" if role == "admin" else f"{role}1"
        if role != "admin":
            add_user(d, name, role, f"{role.capitalize()}-Pass-1234")
        c = Client(d)
        assert c.login(name, ADMIN_PW if role == "admin" else f"{role.capitalize()}-Pass-1234")[0] == 201
        clients[role] = c
    failures = []
    for method, path, body, allowed in ENDPOINTS:
        for who, c in clients.items():
            status, doc = c.request(method, path, body)
            denied_by_matrix = status == 401 or (status == 403 and (doc or {}).get("detail") == MATRIX_DENIAL)
            if (who in allowed) == denied_by_matrix:
                failures.append(f"{who} {method} {path}: {status} {doc}")
    assert not failures, "\n".join(failures)
    # Logout, last: every role may end its own session.
    for who, c in clients.items():
        assert c.request("DELETE", "/api/v1/session")[0] == (401 if who == "anon" else 204)

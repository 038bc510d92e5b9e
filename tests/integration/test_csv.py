"""CSV export/import through privstackctl: RFC 4180, formula neutralisation
with a reversible single-quote prefix, exact round trip through Python's
csv module, all-or-nothing import with a per-row error report."""
import csv
import io
import json
import subprocess

from conftest import PRIVSTACKCTL

HEADER = ["result_id", "recipient_external_id", "recipient_name", "recipient_email", "recipient_group",
          "achievement", "score", "status", "completed_at", "credential_id"]
DANGEROUS = ("=", "+", "-", "@", "\t", "\r", "'")

HOSTILE = [
    "plain", 'quote "inside"', "comma, here", "new\nline", "crlf\r\nline", "emoji \U0001F393\U0001F600",
    "=HYPERLINK(\"http://evil\",\"x\")", "+SUM(1,2)", "-2+3", "@cmd", "\ttab first", "'already quoted",
    "=1+2\n=3", "ünïcødé, \"mixed\"\r\n=x",
]


def hostile_rows():
    rows = []
    for i, value in enumerate(HOSTILE, start=1):
        rows.append([str(i), f"EXT-{i}", value, f"p{i}@example.org", value.replace("\n", " ").replace("\r", " ").replace("\t", " ")[:50],
                     f"{value} course", str(i * 6.5 if i * 6.5 <= 100 else 99.5), "passed",
                     "2024-03-0%dT10:00:00Z" % (i % 9 + 1), f"urn:uuid:{i}" if i % 2 else ""])
    rows.append(["", "EXT-NORESULT", "No results yet", "none@example.org", "", "", "", "", "", ""])
    return rows


def to_csv(rows, neutralise=True):
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(HEADER)
    for row in rows:
        w.writerow([("'" + c) if neutralise and c[:1] in DANGEROUS else c for c in row])
    return buf.getvalue()


def ctl_bytes(d, *args):
    """privstackctl with its stdout as bytes (no newline translation)."""
    r = subprocess.run([str(PRIVSTACKCTL), "--socket", str(d.socket), *args], capture_output=True, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def parse(text):
    return list(csv.reader(io.StringIO(text, newline="")))


def unneutralise(cell):
    return cell[1:] if cell.startswith("'") else cell


def test_round_trip_with_hostile_values(daemon_factory, tmp_path):
    a = daemon_factory("a")
    a.start()
    src = tmp_path / "in.csv"
    src.write_bytes(to_csv(hostile_rows()).encode())
    r = a.ctl("--json", "records", "import", str(src))
    report = json.loads(r.stdout)
    assert report["ok"] and report["results_created"] == len(HOSTILE) and report["recipients_created"] == len(HOSTILE) + 1

    raw = ctl_bytes(a, "records", "export", "--format", "csv")
    out = raw.decode()
    assert raw.startswith(b"result_id,recipient_external_id,")
    # CRLF record ends; every bare LF is inside a quoted cell.
    records = parse(out)
    assert records[0] == HEADER
    # Formula cells are neutralised: no cell begins with a dangerous character.
    for row in records[1:]:
        for cell in row:
            assert cell[:1] not in DANGEROUS[:-1], row
    # Python's csv reads back exactly what was put in (after the documented prefix rule).
    got = sorted(([unneutralise(c) for c in row] for row in records[1:]), key=lambda r: r[1])
    want = sorted(hostile_rows(), key=lambda r: r[1])
    # Scores come back in their shortest form.
    for row in want:
        if row[6]:
            row[6] = format(float(row[6]), "g") if float(row[6]) != int(float(row[6])) else str(int(float(row[6])))
    assert got == want

    # Export -> import elsewhere -> export is byte-identical.
    b = daemon_factory("b")
    b.start()
    dump = tmp_path / "dump.csv"
    dump.write_bytes(raw)
    b.ctl("records", "import", str(dump))
    assert ctl_bytes(b, "records", "export", "--format", "csv") == raw
    b.stop()
    a.stop()


def test_malformed_or_invalid_import_changes_nothing(daemon, tmp_path):
    good = tmp_path / "good.csv"
    good.write_bytes(to_csv([["", "E1", "Ada", "ada@example.org", "", "Course", "90", "passed", "", ""]]).encode())
    daemon.ctl("records", "import", str(good))
    before = ctl_bytes(daemon, "records", "export")

    bad_rows = tmp_path / "bad.csv"
    bad_rows.write_bytes(to_csv([
        ["", "E2", "Bob", "bob@example.org", "", "Course", "50", "passed", "", ""],
        ["", "E3", "Cy", "not-an-email", "", "Course", "150", "passed", "", ""],
        ["x", "E4", "", "d@example.org", "", "Course", "", "done", "tomorrow", ""],
    ]).encode())
    r = daemon.ctl("records", "import", str(bad_rows), check=False)
    assert r.returncode == 1
    assert "row 3, column recipient_email:" in r.stderr
    assert "row 3, column score:" in r.stderr
    assert "row 4, column result_id:" in r.stderr
    assert "row 4, column recipient_name:" in r.stderr
    assert "row 4, column status:" in r.stderr
    assert "row 4, column completed_at:" in r.stderr

    broken = tmp_path / "broken.csv"
    broken.write_bytes((",".join(HEADER) + '\r\n,E5,"unterminated,e@example.org\r\n').encode())
    r = daemon.ctl("records", "import", str(broken), check=False)
    assert r.returncode == 1 and "unterminated" in r.stderr

    wrong_header = tmp_path / "header.csv"
    wrong_header.write_bytes(b"name,email\r\nA,a@example.org\r\n")
    r = daemon.ctl("records", "import", str(wrong_header), check=False)
    assert r.returncode == 1 and "row 1" in r.stderr

    assert ctl_bytes(daemon, "records", "export") == before
    log = [json.loads(l) for l in daemon.ctl("audit", "export").stdout.splitlines()]
    imports = [e for e in log if e["action"] == "records.import"]
    assert [e["outcome"] for e in imports] == ["success", "failure", "failure", "failure"]
    exports = [e for e in log if e["action"] == "records.export"]
    assert exports and all(e["actor"].startswith("local:uid=") for e in exports)


def test_jsonl_export_has_everything(daemon, tmp_path):
    src = tmp_path / "in.csv"
    src.write_bytes(to_csv(hostile_rows()).encode())
    daemon.ctl("records", "import", str(src))
    lines = daemon.ctl("records", "export", "--format", "jsonl").stdout.splitlines()
    docs = [json.loads(l) for l in lines]
    assert sum(d["type"] == "recipient" for d in docs) == len(HOSTILE) + 1
    assert sum(d["type"] == "result" for d in docs) == len(HOSTILE)
    names = {d["name"] for d in docs if d["type"] == "recipient"}
    assert set(HOSTILE) <= names

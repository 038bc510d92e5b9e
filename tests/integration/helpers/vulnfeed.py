"""Generated Debian security tracker feeds for the vulnerability scan's tests.

The real feed (https://security-tracker.debian.org/tracker/data/json) cannot
be downloaded on the test machines (no Internet), so the tests generate one
with the documented structure:

  {source: {"CVE-…"|"TEMP-…": {"description", "scope", "debianbug",
    "releases": {codename: {"status": resolved|open|undetermined,
      "repositories": {codename: version}, "fixed_version", "urgency",
      "nodsa", "nodsa_reason"}}}}}

and `to_debsecan` turns it into the data format debsecan reads (read from
/usr/bin/debsecan's fetch_data: zlib-compressed text, "VERSION 1", the
vulnerability names, then "package,vuln-index,flags,fixed-version,other-versions"
lines, then the source-to-binary map).
"""
import json
import random
import re
import zlib

URGENCIES = ["low", "medium", "high", "unimportant", "not yet assigned", "end-of-life", "low**", "medium*"]
RELEASES = ["bullseye", "bookworm", "trixie", "sid"]


def installed_sources(status_path):
    """{source: source_version} of installed packages, parsed as debsecan does."""
    out = {}
    re_source = re.compile(r"^([a-zA-Z0-9.+-]+)(?:\s+\((\S+)\))?$")
    with open(status_path, encoding="utf-8", errors="replace") as f:
        for stanza in f.read().split("\n\n"):
            fields = {}
            for line in stanza.splitlines():
                if line and line[0] not in " \t" and ":" in line:
                    k, v = line.split(":", 1)
                    fields[k] = v.strip()
            if "Package" not in fields or "installed" not in fields.get("Status", "").split(" "):
                continue
            src, src_version = fields["Package"], fields.get("Version", "")
            if "Source" in fields:
                m = re_source.match(fields["Source"])
                src = m.group(1)
                src_version = m.group(2) or src_version
            out[src] = src_version
    return out


def around(rng, v):
    """A version just below, equal to or just above v (dpkg order)."""
    return rng.choice([
        v, v + "+deb12u1", v + "~deb12u1", v + "~", v + ".1", v + "+b1",
        re.sub(r"(\d+)$", lambda m: str(int(m.group(1)) + 1), v),
        re.sub(r"(\d+)$", lambda m: str(max(0, int(m.group(1)) - 1)), v),
        "1:" + v if ":" not in v else v.split(":", 1)[1],
        "0",
    ])


def entry(rng, release, version):
    status = rng.choices(["resolved", "open", "undetermined"], [0.75, 0.2, 0.05])[0]
    r = {"status": status, "repositories": {release: version or "1.0-1"}, "urgency": rng.choice(URGENCIES)}
    if status == "resolved":
        r["fixed_version"] = around(rng, version) if version else "1.0-1"
    if rng.random() < 0.15:
        r["nodsa"] = "Minor issue"
        r["nodsa_reason"] = rng.choice(["postponed", "ignored", ""])
    return r


def generate(installed, seed=1, pad_to_bytes=0, release="bookworm"):
    """A feed covering every installed source (several CVEs each, around the
    installed version), packages that are not installed, other releases, and
    padding packages up to pad_to_bytes of JSON."""
    rng = random.Random(seed)
    feed = {}
    n = 0

    def cve():
        nonlocal n
        n += 1
        return (f"CVE-{2000 + n % 25}-{n:05d}" if rng.random() < 0.95 else f"TEMP-{n:07d}-{n:06X}")

    def package(version):
        cves = {}
        for _ in range(rng.randint(1, 6)):
            releases = {}
            for rel in RELEASES:
                if rel == release or rng.random() < 0.5:
                    releases[rel] = entry(rng, rel, version)
            cves[cve()] = {"description": "generated " + "x" * rng.randint(20, 200),
                           "scope": rng.choice(["local", "remote"]), "debianbug": rng.randint(1, 10**6),
                           "releases": releases}
        return cves

    for src, version in sorted(installed.items()):
        feed[src] = package(version)
    i = 0
    while True:
        text = json.dumps(feed)
        if len(text) >= pad_to_bytes:
            return text
        # grow by a chunk of uninstalled packages, then measure again
        for _ in range(max(1, (pad_to_bytes - len(text)) // 2500)):
            feed[f"generated-pkg-{i}"] = package(f"{rng.randint(0, 9)}.{rng.randint(0, 20)}-{rng.randint(1, 5)}")
            i += 1


def to_debsecan(feed_text, release="bookworm"):
    """The feed as debsecan's data file for `release` (zlib-compressed bytes).

    The tracker's states map as privstack reads them (daemon/vulnscan/matching.h):
    open and undetermined are vulnerable with no fixed version; resolved with a
    fixed version is vulnerable below it; fixed version "0" is not listed."""
    feed = json.loads(feed_text)
    names, lines = [], []
    letter = {"low": "L", "medium": "M", "high": "H"}
    for src, cves in feed.items():
        for cve_id, e in cves.items():
            r = e.get("releases", {}).get(release)
            if not r:
                continue
            status, fixed = r.get("status"), r.get("fixed_version", "")
            if status == "resolved":
                if not fixed or fixed == "0":
                    continue
            elif status in ("open", "undetermined"):
                fixed = ""
            else:
                continue
            names.append(f"{cve_id},,{e.get('description', '')[:60].replace(chr(10), ' ')}")
            urgency = letter.get(r.get("urgency", "").rstrip("*"), " ")
            remote = {"remote": "R", "local": " "}.get(e.get("scope"), "?")
            flags = "S" + urgency + remote + ("F" if fixed else " ")
            lines.append(f"{src},{len(names) - 1},{flags},{fixed},")
    text = "VERSION 1\n" + "\n".join(names) + "\n\n" + "\n".join(lines) + "\n\n\n"
    return zlib.compress(text.encode())

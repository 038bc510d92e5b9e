"""The vulnerability scan's matching against Debian's debsecan, on the same
machine and the same feed: a generated security tracker feed over this host's
installed packages (helpers/vulnfeed.py), turned into debsecan's data format
and served to it from a file:// URL (--source). privstack's scan
(vulnscan_testtool scan: the real inventory, feed parser and matching) must
report the same (CVE, binary package) pairs as `debsecan --format simple`.

The feed parser's cost on a feed the size of the real one (about 60 MB) is
measured too: time and peak RSS, bounded.
"""
import shutil
import subprocess

import pytest

from conftest import BUILD_DIR
from helpers import vulnfeed

TOOL = BUILD_DIR / "daemon" / "vulnscan" / "vulnscan_testtool"


def sanitized(binary):
    """True for a binary of the ASan+UBSan build (linked against libasan)."""
    out = subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout
    return "libasan" in out
STATUS = "/var/lib/dpkg/status"
RELEASE = "bookworm"


def privstack_pairs(status, feed_path):
    r = subprocess.run([str(TOOL), "scan", str(status), str(feed_path), RELEASE],
                       capture_output=True, text=True, check=True)
    pairs = {tuple(line.split("\t")[:2]) for line in r.stdout.splitlines()}
    stats = dict(kv.split("=") for kv in r.stderr.split())
    return pairs, stats


def debsecan_pairs(tmp_path, status, feed_text):
    data = tmp_path / "debsecan"
    data.mkdir()
    (data / RELEASE).write_bytes(vulnfeed.to_debsecan(feed_text, RELEASE))
    (tmp_path / "debsecan.conf").write_text("")
    r = subprocess.run(["debsecan", "--suite", RELEASE, "--source", f"file://{data}/", "--status", str(status),
                        "--format", "simple", "--config", str(tmp_path / "debsecan.conf"),
                        "--whitelist", str(tmp_path / "whitelist")],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "error" not in r.stderr, r.stderr
    return {tuple(line.split(" ")[:2]) for line in r.stdout.splitlines() if line}


@pytest.mark.skipif(shutil.which("debsecan") is None, reason="debsecan is not installed (scripts/setup)")
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_same_cve_package_pairs_as_debsecan(tmp_path, seed):
    feed_text = vulnfeed.generate(vulnfeed.installed_sources(STATUS), seed=seed)
    feed_path = tmp_path / "feed.json"
    feed_path.write_text(feed_text)
    ours, stats = privstack_pairs(STATUS, feed_path)
    theirs = debsecan_pairs(tmp_path, STATUS, feed_text)
    assert len(theirs) > 500, len(theirs)  # the feed makes many packages vulnerable
    assert ours == theirs, (f"only privstack: {sorted(ours - theirs)[:10]} "
                            f"only debsecan: {sorted(theirs - ours)[:10]}")
    assert stats["unparseable"] == "0"
    print(f"seed {seed}: {len(ours)} CVE/package pairs, the same in both; "
          f"{stats['installed']} installed packages, {stats['entries']} feed entries")


def test_a_real_sized_feed_parses_in_bounded_memory(tmp_path):
    feed_path = tmp_path / "feed.json"
    feed_path.write_text(vulnfeed.generate(vulnfeed.installed_sources(STATUS), seed=7, pad_to_bytes=60 << 20))
    size_mib = feed_path.stat().st_size / 2**20
    assert size_mib >= 60
    _, stats = privstack_pairs(STATUS, feed_path)
    rss_mib = int(stats["peak_rss_kib"]) / 1024
    print(f"{size_mib:.1f} MiB feed: {stats['packages']} packages, {stats['entries']} {RELEASE} entries kept, "
          f"parsed in {float(stats['parse_seconds']):.2f} s, peak RSS {rss_mib:.1f} MiB")
    assert int(stats["packages"]) > 10_000 and int(stats["entries"]) > 10_000, stats
    # Every generated package has entries for the release: what is kept
    # (about 120,000 entries) costs memory, the file itself does not. In the
    # ASan build, shadow memory and the allocator's quarantine make RSS say
    # nothing about the parser, so the bounds hold for the plain build only.
    bounded = not sanitized(TOOL)
    if bounded:
        assert rss_mib < 100, rss_mib
    # A release the feed does not have: nothing is kept, and the peak is one
    # package's JSON plus the read buffer, whatever the file's size.
    r = subprocess.run([str(TOOL), "scan", STATUS, str(feed_path), "no-such-release"],
                       capture_output=True, text=True, check=True)
    idle = dict(kv.split("=") for kv in r.stderr.split())
    idle_mib = int(idle["peak_rss_kib"]) / 1024
    print(f"the same feed, nothing kept: peak RSS {idle_mib:.1f} MiB")
    assert idle["entries"] == "0", idle
    if bounded:
        assert idle_mib < 16, idle


EDGE_STATUS = """\
Package: libfoo1
Status: install ok installed
Architecture: amd64
Source: foo (1.0-1)
Version: 1.0-1+b1

Package: libfoo1
Status: install ok installed
Architecture: i386
Multi-Arch: same
Source: foo (1.0-1)
Version: 1.0-1+b1

Package: bar
Status: hold ok installed
Architecture: amd64
Source: bar-src
Version: 2:0.9~rc1-3

Package: gone
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1

Package: broken
Status: install reinstreq half-installed
Architecture: amd64
Version: 1.0-1

Package: tilde
Status: install ok installed
Architecture: all
Version: 1.0~~-1
Description: a package
 with a continuation line
 .
"""


def release(status, fixed=None):
    r = {"status": status, "urgency": "high"}
    if fixed is not None:
        r["fixed_version"] = fixed
    return {"releases": {RELEASE: r}}


@pytest.mark.skipif(shutil.which("debsecan") is None, reason="debsecan is not installed (scripts/setup)")
def test_edge_cases_as_debsecan_sees_them(tmp_path):
    """No binary-name fallback (source bar is not bar-src's binary bar), hold,
    config-files and half-installed states, binNMU binaries, multi-arch,
    double tildes, epochs: the same pairs from both, and the expected ones."""
    import json
    status = tmp_path / "status"
    status.write_text(EDGE_STATUS)
    feed = {
        "foo": {"CVE-1": release("resolved", "1.0-1"),        # equal to the source version: fixed
                "CVE-2": release("resolved", "1.0-1.1"),      # newer: vulnerable
                "CVE-3": release("resolved", "0"),            # never affected
                "CVE-4": release("open")},
        "bar-src": {"CVE-5": release("resolved", "2:0.9-1"),  # 0.9~rc1 < 0.9: vulnerable
                    "CVE-6": release("resolved", "1:5.0-1")},  # lower epoch: fixed
        "bar": {"CVE-11": release("open")},  # another source that happens to share the binary's name
        "gone": {"CVE-7": release("open")},
        "broken": {"CVE-8": release("open")},
        "tilde": {"CVE-9": release("resolved", "1.0~-1"),      # 1.0~~ < 1.0~: vulnerable
                  "CVE-10": release("resolved", "1.0~~~-1")},  # 1.0~~ > 1.0~~~: fixed
    }
    text = json.dumps(feed)
    feed_path = tmp_path / "feed.json"
    feed_path.write_text(text)
    ours, _ = privstack_pairs(status, feed_path)
    theirs = debsecan_pairs(tmp_path, status, text)
    expected = {("CVE-2", "libfoo1"), ("CVE-4", "libfoo1"), ("CVE-5", "bar"), ("CVE-9", "tilde")}
    assert theirs == expected
    assert ours == expected

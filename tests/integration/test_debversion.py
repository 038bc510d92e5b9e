"""Debian version order: privstack's (daemon/vulnscan/debversion.cpp) against
Debian's own implementations on generated pairs.

- 100,000+ pairs against libapt (python3-apt's apt_pkg.version_compare, the
  comparison debsecan and apt use), all through one process each side;
- a few thousand pairs, including malformed versions, against
  `dpkg --compare-versions` itself, run in parallel: same order, and a version
  dpkg refuses (exit 2) is one we refuse.

The generator is seeded (PRIVSTACK_DEBVERSION_SEED, default fixed) and aims at
hard cases: epochs with leading zeros, tildes (also doubled and trailing),
'+' and '.', leading zeros in numbers, upper/lower letters, hyphens inside
upstream, revisions with tildes, and pairs that differ in one place.
"""
import os
import random
import subprocess
from concurrent.futures import ThreadPoolExecutor

import apt_pkg
import pytest

from conftest import BUILD_DIR

TOOL = BUILD_DIR / "daemon" / "vulnscan" / "vulnscan_testtool"
SEED = int(os.environ.get("PRIVSTACK_DEBVERSION_SEED", "20261207"))
PAIRS = 120_000
DPKG_PAIRS = 3_000

apt_pkg.init_system()

ALNUM_TAIL = "abcxyzABZ"
SYMBOLS = ".+~"


def part(rng, allowed_symbols):
    """A run of alternating digit and non-digit fragments."""
    out = []
    for _ in range(rng.randint(1, 5)):
        kind = rng.random()
        if kind < 0.45:
            digits = str(rng.choice([0, 1, 2, 9, 10, 11, 99, 100, rng.randint(0, 10**6)]))
            if rng.random() < 0.2:
                digits = "0" * rng.randint(1, 3) + digits
            out.append(digits)
        elif kind < 0.7:
            out.append(rng.choice(allowed_symbols))
        elif kind < 0.85:
            out.append("".join(rng.choice(ALNUM_TAIL) for _ in range(rng.randint(1, 3))))
        else:
            out.append("~" * rng.randint(1, 2))
    return "".join(out)


def version(rng):
    """A version dpkg accepts without warnings."""
    v = ""
    if rng.random() < 0.3:
        v += rng.choice(["0", "1", "2", "00", "01", "10", str(rng.randint(0, 50))]) + ":"
    upstream = str(rng.randint(0, 20)) + part(rng, SYMBOLS)
    if rng.random() < 0.1:
        upstream += "-" + part(rng, SYMBOLS)  # a hyphen inside upstream (needs a revision)
        has_rev = True
    else:
        has_rev = rng.random() < 0.6
    if v and rng.random() < 0.05:
        upstream += ":" + part(rng, SYMBOLS)  # a colon inside upstream (needs an epoch)
    v += upstream
    if has_rev:
        v += "-" + part(rng, SYMBOLS)
    return v


def mutate(rng, v):
    """A close neighbour of v: one character changed, added or removed."""
    choices = "0123456789" + ALNUM_TAIL + SYMBOLS
    i = rng.randrange(len(v) + 1)
    op = rng.random()
    if op < 0.4 and i < len(v):
        out = v[:i] + rng.choice(choices) + v[i + 1:]
    elif op < 0.8:
        out = v[:i] + rng.choice(choices) + v[i:]
    else:
        out = v[:i] + v[i + 1:]
    return out


def valid(v):
    """dpkg's rules for a warning-free version, so that libapt (which does
    not validate) is compared only where dpkg defines the order."""
    rest = v
    if ":" in v:
        epoch, rest = v.split(":", 1)
        if not epoch.isdigit() or int(epoch) > 2**31 - 1:  # dpkg: "epoch in version is too big"
            return False
    if not rest:
        return False
    upstream, _, revision = rest.rpartition("-") if "-" in rest else (rest, "", "")
    if "-" in rest and not revision:
        return False
    if not upstream or not upstream[0].isdigit():
        return False
    ok_up = set("0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.+~-:")
    if ":" in upstream and ":" not in v:
        return False
    if not set(upstream) <= ok_up or not set(revision) <= ok_up - {"-", ":"}:
        return False
    return True


def pairs(rng, n):
    out = []
    while len(out) < n:
        a = version(rng)
        r = rng.random()
        if r < 0.5:
            b = mutate(rng, a)
        elif r < 0.6:
            b = a
        else:
            b = version(rng)
        if valid(a) and valid(b):
            out.append((a, b))
    return out


def ours(pairs):
    text = "".join(f"{a}\t{b}\n" for a, b in pairs)
    out = subprocess.run([str(TOOL), "compare"], input=text, capture_output=True, text=True, check=True).stdout
    return out.splitlines()


def sign(x):
    return (x > 0) - (x < 0)


def test_order_matches_libapt_on_generated_pairs():
    rng = random.Random(SEED)
    ps = pairs(rng, PAIRS)
    got = ours(ps)
    assert len(got) == len(ps)
    mismatches = [(a, b, g, sign(apt_pkg.version_compare(a, b)))
                  for (a, b), g in zip(ps, got) if g == "error" or int(g) != sign(apt_pkg.version_compare(a, b))]
    assert not mismatches, f"{len(mismatches)} of {len(ps)} differ from libapt, e.g. {mismatches[:10]}"
    # The generator reaches all three outcomes in quantity, and epochs and tildes.
    outcomes = {g: got.count(g) for g in ("-1", "0", "1")}
    assert min(outcomes.values()) > 1000, outcomes
    assert sum(1 for a, b in ps if "~" in a + b) > PAIRS // 4
    assert sum(1 for a, b in ps if ":" in a + b) > PAIRS // 10
    print(f"libapt: {len(ps)} pairs agree; outcomes {outcomes}")


def dpkg_compare(a, b):
    """-1/0/1 from dpkg itself, or "error" when dpkg refuses a version."""
    lt = subprocess.run(["dpkg", "--compare-versions", a, "lt", b], capture_output=True)
    if lt.returncode == 2:
        return "error"
    if lt.returncode == 0:
        return -1
    eq = subprocess.run(["dpkg", "--compare-versions", a, "eq", b], capture_output=True)
    assert eq.returncode in (0, 1), eq.stderr
    return 0 if eq.returncode == 0 else 1


def malformed(rng):
    """Versions dpkg refuses or warns about, next to valid ones."""
    return rng.choice([
        "", "1:", ":1", "a:1", "1.0-", "1 0", "-1:2", "99999999999:1", "1:-1", "2147483648:1",
        "2147483647:1", "+1:2", "a1", "1::", "1.0_x", "1.0-a_b", "1.0-a:b", "~1", "1.0 ", " 1.0",
        "0:", "00:0", "1-1-1", "1:2:3-4-5",
    ])


def test_order_and_refusals_match_dpkg():
    rng = random.Random(SEED + 1)
    ps = pairs(rng, DPKG_PAIRS)
    # A tenth of the pairs carry a malformed or warned-about version.
    for i in range(0, len(ps), 10):
        a, b = ps[i]
        ps[i] = (malformed(rng), b) if i % 20 == 0 else (a, malformed(rng))
    # dpkg cannot take an empty argument as a version in our test (it is
    # "blank", not an error): keep those out of the dpkg leg.
    ps = [(a, b) for a, b in ps if a and b]
    with ThreadPoolExecutor(max_workers=4) as pool:
        theirs = list(pool.map(lambda p: dpkg_compare(*p), ps))
    got = ours(ps)
    mismatches = [(a, b, g, t) for (a, b), g, t in zip(ps, got, theirs) if str(g) != str(t)]
    assert not mismatches, f"{len(mismatches)} of {len(ps)} differ from dpkg, e.g. {mismatches[:10]}"
    refused = sum(1 for t in theirs if t == "error")
    assert refused > 50, refused
    print(f"dpkg: {len(ps)} pairs agree, {refused} refused by both")

"""privstack's JSON-LD processor and RDFC-1.0 against a real peer: jsonld.js
(tests/interop, exact version in its package-lock.json; scripts/setup runs
npm ci there) canonizes the same credential documents with the same bundled
contexts (a static documentLoader, no network), and the canonical N-Quads
must be the same bytes as privstack's (the jsonld_canonize tool of this
build). Also documents built to differ from the fixtures in ways that
exercise the processor: language maps, @json, lists, numbers, @included."""
import json
import shutil
import subprocess

import pytest

from conftest import BUILD_DIR, SOURCE_DIR

INTEROP = SOURCE_DIR / "tests" / "interop"
FIXTURES = SOURCE_DIR / "tests" / "data" / "credentials"
CANONIZE = BUILD_DIR / "tests" / "jsonld_canonize"

# Documents beyond the fixtures: the features credentials and their
# extensions use, in the credentials v2 context.
EXTRA = {
    "extra-features.json": {
        "@context": [
            "https://www.w3.org/ns/credentials/v2",
            {
                "ex": "https://example.org/vocab#",
                "names": {"@id": "ex:names", "@container": "@language"},
                "data": {"@id": "ex:data", "@type": "@json"},
                "steps": {"@id": "ex:steps", "@container": "@list"},
                "score": "ex:score",
                "ratio": "ex:ratio",
                "passed": "ex:passed",
            },
        ],
        "id": "urn:uuid:0b4f1a3e-7c1d-4c8e-9e0a-111111111111",
        "type": ["VerifiableCredential"],
        "issuer": {"id": "did:web:issuer.example", "name": "Issuer"},
        "validFrom": "2026-03-01T00:00:00Z",
        "credentialSubject": {
            "id": "did:example:subject",
            "names": {"en": "Name", "de": ["Name", "Bezeichnung"]},
            "data": {"b": [1, 2.5, "x"], "a": {"nested": True}},
            "steps": ["one", "two", {"@id": "https://example.org/three"}],
            "score": 87,
            "ratio": 0.875,
            "passed": True,
        },
    },
}


def node_ready():
    return shutil.which("node") and (INTEROP / "node_modules" / "jsonld" / "package.json").exists()


@pytest.fixture(scope="module")
def documents(tmp_path_factory):
    assert CANONIZE.exists(), f"{CANONIZE} missing: build the jsonld_canonize target"
    assert node_ready(), "jsonld.js missing: run scripts/setup (npm ci in tests/interop)"
    files = sorted(FIXTURES.glob("*.json"))
    extra_dir = tmp_path_factory.mktemp("jsonld")
    for name, doc in EXTRA.items():
        path = extra_dir / name
        path.write_text(json.dumps(doc))
        files.append(path)
    return files


@pytest.fixture(scope="module")
def jsonld_js(documents):
    out = subprocess.run(["node", str(INTEROP / "canonize.mjs"), *map(str, documents)],
                         capture_output=True, text=True, check=True, timeout=120)
    return json.loads(out.stdout)


def test_every_document_is_compared(documents):
    assert len(documents) >= 5


@pytest.mark.parametrize("index", range(5))
def test_same_canonical_nquads_as_jsonld_js(documents, jsonld_js, index):
    path = documents[index]
    ours = subprocess.run([str(CANONIZE), str(path)], capture_output=True, check=True, timeout=60).stdout
    theirs = jsonld_js[str(path)].encode()
    assert theirs, f"jsonld.js gave nothing for {path.name}"
    assert ours == theirs, f"{path.name}: privstack and jsonld.js differ"


def test_unknown_context_is_refused_by_both(tmp_path):
    doc = tmp_path / "remote.json"
    doc.write_text(json.dumps({"@context": "https://remote.example/ctx", "name": "x"}))
    ours = subprocess.run([str(CANONIZE), str(doc)], capture_output=True, text=True, timeout=60)
    assert ours.returncode == 1
    assert "unknown JSON-LD context https://remote.example/ctx" in ours.stderr
    theirs = subprocess.run(["node", str(INTEROP / "canonize.mjs"), str(doc)], capture_output=True, text=True,
                            timeout=60)
    assert theirs.returncode != 0

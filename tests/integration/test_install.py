"""`cmake --install` produces the installed layout of ARCHITECTURE.md, and the
shipped default configuration passes --check-config."""
import os
import subprocess

from conftest import BUILD_DIR


def test_install_layout(tmp_path):
    dest = tmp_path / "root"
    r = subprocess.run(["cmake", "--install", str(BUILD_DIR), "--prefix", "/usr"],
                       env=dict(os.environ, DESTDIR=str(dest)), capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    for path in ["usr/sbin/privstackd", "usr/bin/privstackctl", "etc/privstack/privstack.yaml",
                 "usr/share/privstack/web", "usr/lib/systemd/system/privstackd.service",
                 "usr/lib/sysusers.d/privstack.conf", "usr/lib/tmpfiles.d/privstack.conf",
                 "usr/lib/systemd/catalog/privstack.catalog"]:
        assert (dest / path).exists(), path
    assert os.access(dest / "usr/sbin/privstackd", os.X_OK)
    # The default config is valid as shipped (secret files it names may be absent).
    r = subprocess.run([str(dest / "usr/sbin/privstackd"), "--config", str(dest / "etc/privstack/privstack.yaml"),
                        "--check-config"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_unit_file_is_valid():
    """systemd-analyze parses the unit and finds no unknown settings."""
    unit = BUILD_DIR.parent.parent / "systemd" / "privstackd.service"
    if not unit.exists():
        from conftest import SOURCE_DIR
        unit = SOURCE_DIR / "systemd" / "privstackd.service"
    r = subprocess.run(["systemd-analyze", "security", "--offline=true", str(unit)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "Unknown" not in r.stderr and "unknown" not in r.stderr.lower(), r.stderr
    assert "Overall exposure level for privstackd.service" in r.stdout

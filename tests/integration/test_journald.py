"""privstackd's entries in a real journald: MESSAGE_ID, PRIORITY and the
PRIVSTACK_* fields arrive, and `journalctl -x` explains them from our catalog.

The test runs its own systemd-journald in a private mount namespace (tmpfs
over /run/systemd, /run/log, /var/log/journal and the catalog directories),
so it neither needs systemd as PID 1 nor touches the host's journal.
"""
import json
import os
import shutil
import subprocess
import textwrap

import pytest

from conftest import PRIVSTACKCTL, PRIVSTACKD, SOURCE_DIR

JOURNALD = "/lib/systemd/systemd-journald"


def require_namespaces():
    if os.geteuid() != 0:
        pytest.skip("needs root to create a mount namespace for a private journald")
    if not os.path.exists(JOURNALD):
        pytest.fail(f"{JOURNALD} missing: scripts/setup installs the systemd package")
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "true"], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"the kernel forbids mount namespaces here: {r.stderr.decode().strip()}")


def test_entries_reach_journald_with_fields_and_catalog(daemon_factory, tmp_path):
    require_namespaces()
    d = daemon_factory("journal")
    d.write_config()
    d.init_store_key()
    out = tmp_path / "out"
    out.mkdir()
    script = textwrap.dedent(f"""\
        set -eu
        for dir in /run/systemd /run/log /var/lib/systemd/catalog /usr/lib/systemd/catalog; do
          mkdir -p $dir; mount -t tmpfs tmpfs $dir
        done
        if [ -d /var/log/journal ]; then mount -t tmpfs tmpfs /var/log/journal; fi
        if [ ! -s /etc/machine-id ]; then
          [ -e /etc/machine-id ] || touch /etc/machine-id
          cat /proc/sys/kernel/random/uuid | tr -d - > /run/log/machine-id
          mount --bind /run/log/machine-id /etc/machine-id
        fi
        mkdir -p /run/systemd/journal
        cp {SOURCE_DIR}/systemd/privstack.catalog /usr/lib/systemd/catalog/
        {JOURNALD} &
        jpid=$!
        for i in $(seq 1 200); do [ -S /run/systemd/journal/socket ] && break; sleep 0.05; done
        {PRIVSTACKD} --config {d.config_path} --log-target journal &
        dpid=$!
        for i in $(seq 1 600); do
          {PRIVSTACKCTL} --socket {d.socket} status > {out}/status.txt 2>&1 && break
          sleep 0.1
        done
        kill -TERM $dpid
        wait $dpid || echo "daemon exit $?" > {out}/daemon-exit
        sleep 0.5
        journalctl --update-catalog
        journalctl --no-pager -o json SYSLOG_IDENTIFIER=privstackd > {out}/entries.json
        journalctl --no-pager -x SYSLOG_IDENTIFIER=privstackd > {out}/explained.txt
        kill $jpid; wait $jpid || true
        """)
    r = subprocess.run(["unshare", "-m", "--propagation", "private", "sh", "-c", script],
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr
    assert not (out / "daemon-exit").exists(), (out / "daemon-exit").read_text()
    entries = [json.loads(line) for line in (out / "entries.json").read_text().splitlines() if line]
    by_event = {e.get("PRIVSTACK_EVENT"): e for e in entries}
    for name in ("daemon.started", "daemon.ready", "control.command", "daemon.stopping", "daemon.stopped"):
        assert name in by_event, f"{name} not in journal: {sorted(by_event)}"

    from_header = open(SOURCE_DIR / "daemon" / "core" / "events.h").read()
    ready = by_event["daemon.ready"]
    assert ready["MESSAGE_ID"] in from_header
    assert ready["PRIORITY"] == "6"
    assert ready["PRIVSTACK_LISTEN"] == f"127.0.0.1:{d.port}"
    started = by_event["daemon.started"]
    assert started["PRIORITY"] == "5"
    assert started["PRIVSTACK_CONFIG"] == str(d.config_path)
    assert by_event["control.command"]["PRIVSTACK_COMMAND"] == "status"
    assert by_event["control.command"]["PRIVSTACK_PEER_UID"] == "0"

    explained = (out / "explained.txt").read_text()
    # journalctl -x prints the catalog entry under the message.
    assert "Subject: privstackd is ready" in explained, explained
    assert "told systemd READY=1" in explained

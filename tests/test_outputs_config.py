"""The [logs], [mail] and [forward] tables of a config file."""

from __future__ import annotations

import json

from tests.conftest import invoke_hidsctl, run_hidsctl
from tests.netutil import DatagramListener
from tests.test_alertfiles import alert


def test_logs_dir_and_archives_from_config(tmp_path):
    config = tmp_path / "hidsctl.toml"
    config.write_text(f'[logs]\ndir = "{tmp_path / "out"}"\narchives = true\n')
    result = run_hidsctl("logs", "write", "--config", str(config),
                         input=json.dumps(alert("2026-11-20T10:00:00.000Z")) + "\n")
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out/alerts/2026/Nov/ossec-alerts-20.log.gz").exists()
    assert (tmp_path / "out/archives/2026/Nov/ossec-archive-20.json.gz").exists()
    assert invoke_hidsctl("logs", "verify", "--config", str(config)).returncode == 0


def test_forward_from_config(tmp_path):
    listener = DatagramListener()
    config = tmp_path / "hidsctl.toml"
    config.write_text(f'[forward]\nto = ["udp://127.0.0.1:{listener.port}"]\nformat = "json"\n'
                      'level = 5\nfacility = "auth"\n')
    try:
        result = run_hidsctl("forward", "--config", str(config), "--state-dir", str(tmp_path),
                             input=json.dumps(alert("2026-11-20T10:00:00.000Z")) + "\n")
        (datagram,) = listener.receive(1)
    finally:
        listener.close()
    assert result.returncode == 0, result.stderr
    assert json.loads(datagram)["rule"]["id"] == "5716"


def test_unknown_key_and_bad_format_are_config_errors(tmp_path):
    config = tmp_path / "hidsctl.toml"
    config.write_text('[forward]\nto = ["udp://127.0.0.1:9"]\nformatt = "json"\n')
    result = invoke_hidsctl("forward", "--config", str(config), "--state-dir", str(tmp_path), input="")
    assert result.returncode == 2 and b"formatt" in result.stderr
    result = invoke_hidsctl("forward", "--to", "udp://127.0.0.1:9", "--format", "xml",
                            "--state-dir", str(tmp_path), input="")
    assert result.returncode == 2 and b"--format" in result.stderr


def test_verify_of_a_missing_directory_fails(tmp_path):
    result = invoke_hidsctl("logs", "verify", "--dir", str(tmp_path / "nowhere"))
    assert result.returncode == 1 and b"no such directory" in result.stderr

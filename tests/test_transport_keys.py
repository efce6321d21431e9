"""hidsctl keys: the client.keys file, export and import, through the real CLI."""

from __future__ import annotations

import json
import stat

import pytest

from conftest import invoke_hidsctl
from hidsctl.errors import ConfigError
from hidsctl.transport.keys import KeyFile, export_string, import_string, parse


def test_add_list_export_import_remove(tmp_path):
    server, agent = str(tmp_path / "server"), str(tmp_path / "agent")
    assert invoke_hidsctl("keys", "add", "web1", "--state-dir", server).stdout.strip() == b"001"
    assert invoke_hidsctl("keys", "add", "db1", "--ip", "10.0.0.0/24", "--id", "7",
                          "--state-dir", server).stdout.strip() == b"007"
    listed = json.loads(invoke_hidsctl("keys", "list", "--json", "--state-dir", server).stdout)
    assert listed == [{"id": "001", "name": "web1", "ip": "any"},
                      {"id": "007", "name": "db1", "ip": "10.0.0.0/24"}]
    path = tmp_path / "server" / "client.keys"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    lines = path.read_text().splitlines()
    assert lines[0].startswith("001 web1 any ") and len(lines[0].split()[3]) == 64

    exported = invoke_hidsctl("keys", "export", "007", "--state-dir", server)
    string = exported.stdout.decode().strip().splitlines()[-1]
    imported = invoke_hidsctl("keys", "import", string, "--state-dir", agent)
    assert imported.returncode == 0, imported.stderr
    agent_file = tmp_path / "agent" / "client.keys"
    assert agent_file.read_text().splitlines() == [lines[1]]
    assert stat.S_IMODE(agent_file.stat().st_mode) == 0o600

    assert invoke_hidsctl("keys", "remove", "1", "--state-dir", server).returncode == 0
    assert [k["id"] for k in json.loads(invoke_hidsctl("keys", "list", "--json", "--state-dir",
                                                       server).stdout)] == ["007"]


def test_usage_errors_exit_2_with_one_line(tmp_path):
    from typer.testing import CliRunner
    from hidsctl.cli import build_app

    app, runner, state = build_app(), CliRunner(), str(tmp_path)
    runner.invoke(app, ["keys", "add", "web1", "--state-dir", state])
    for args, text in ((("keys", "add", "web1"), "already exists"),
                       (("keys", "add", "bad name!"), "agent name"),
                       (("keys", "add", "x", "--ip", "300.1.1.1"), "IP must be"),
                       (("keys", "remove", "042"), "no agent with id 042"),
                       (("keys", "export", "042"), "no agent with id 042"),
                       (("keys", "import", "not-a-key"), "not an exported key")):
        result = runner.invoke(app, [*args, "--state-dir", state])
        assert result.exit_code == 2, args
        assert text in result.stderr and result.stderr.count("\n") == 1


def test_a_malformed_line_is_reported_with_its_number(tmp_path):
    (tmp_path / "client.keys").write_text(
        "001 web1 any " + "a" * 64 + "\n# a comment\n002 db1 any\n")
    result = invoke_hidsctl("keys", "list", "--json", "--state-dir", str(tmp_path))
    assert result.returncode == 2
    assert b"client.keys:3: expected 'ID NAME IP KEY'" in result.stderr


def test_an_ossec_client_keys_file_is_read_as_it_is():
    text = ("001 web1 any 6dd186d1740f6c80d4d380ebe72c8061db175881e07e809eb44404c836a7ef96\n"
            "002 !old 10.1.1.1 5b4c1a2b44a0e4f2c8c5e0e6cd5d5b3e0a4a1f2d2d2e2f3a3b3c3d3e3f404142\n"
            "003 db1 192.168.1.0/24 0b1c2d3e4f5061728394a5b6c7d8e9fa0b1c2d3e4f5061728394a5b6c7d8e9fa\n")
    keys = parse(text, "client.keys")
    assert [(k.id, k.name, k.ip) for k in keys] == [("001", "web1", "any"),
                                                    ("003", "db1", "192.168.1.0/24")]
    assert keys[1].allows("192.168.1.20") and not keys[1].allows("10.0.0.1")


def test_duplicate_ids_and_names_name_both_lines():
    key = "k" * 64
    with pytest.raises(ConfigError, match=r"f:2: agent id 001 already on line 1"):
        parse(f"001 a any {key}\n001 b any {key}\n", "f")
    with pytest.raises(ConfigError, match=r"f:3: agent name 'a' already on line 1"):
        parse(f"001 a any {key}\n\n002 a any {key}\n", "f")


def test_export_is_base64_of_the_line_and_imports_back(tmp_path):
    keyfile = KeyFile.open(tmp_path / "client.keys")
    key = keyfile.add("web1", "10.0.0.5")
    assert import_string(export_string(key)) == key
    assert import_string(key.line()) == key  # a raw line is accepted too

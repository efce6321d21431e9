"""Config files: precedence, type checks and errors that name file, table and key."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import pytest

from hidsctl import config
from hidsctl.errors import ConfigError


@dataclass
class Settings:
    files: list[str] = field(default_factory=list)
    max_line: int = 65536
    from_start: bool = False
    interval: float = 1.0
    state_dir: Path | None = None


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hidsctl.toml"
    path.write_text(text)
    return path


def test_command_line_over_config_over_default(tmp_path):
    path = write(tmp_path, '[collect]\nfiles = ["/var/log/a"]\nmax-line = 100\ninterval = 2\n')
    cfg = config.load(path)
    built = config.build(Settings, {"files": [], "max_line": 5, "from_start": None}, cfg, "collect", path)
    assert built.files == ["/var/log/a"]
    assert built.max_line == 5
    assert built.from_start is False
    assert built.interval == 2.0


def test_no_config_file_gives_defaults():
    assert config.build(Settings, {}, config.load(None), "collect") == Settings()


@pytest.mark.parametrize("text,message", [
    ('[collect]\nmax-line = "64k"\n', "[collect] max-line: expected an integer, got string '64k'"),
    ('[collect]\nfiles = "/var/log/a"\n', "[collect] files: expected a list of strings, got string"),
    ('[collect]\nfile = ["/x"]\n', "[collect]: unknown key 'file'"),
    ('[collect]\nfrom-start = 1\n', "[collect] from-start: expected true or false, got number 1"),
    ("[collect\n", "not valid TOML"),
    ("collect = 3\n", "[collect] must be a table"),
])
def test_broken_config_names_file_and_key(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        config.build(Settings, {}, config.load(path), "collect", path)
    assert str(path) in str(info.value)
    assert message in str(info.value)
    assert info.value.exit_code == 2


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        config.load(tmp_path / "nope.toml")


def test_paths_become_path_objects(tmp_path):
    path = write(tmp_path, '[collect]\nstate-dir = "/tmp/x"\n')
    assert config.build(Settings, {}, config.load(path), "collect", path).state_dir == Path("/tmp/x")

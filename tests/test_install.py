"""tools/install into a temporary root: a real virtualenv with this checkout pip-installed,
the command linked, man pages, completions and the unit in their places, and gone again on
--uninstall. pip uses its usual cache and index; nothing outside the temporary root is
touched (--root implies --no-system-packages and --no-users)."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import ROOT, is_root
from test_supervise_e2e import world  # noqa: F401 (a fixture)

pytestmark = pytest.mark.slow  # a virtualenv with hidsctl's dependencies: 15-60 s

INSTALL = ROOT / "tools" / "install"
PREFIX = "/opt/hidsctl"
SHELLS_SEE = {  # default completion paths, each where its shell searches on Debian 12
    "bash": "usr/share/bash-completion/completions/hidsctl",
    "zsh": "usr/local/share/zsh/site-functions/_hidsctl",
    "fish": "usr/share/fish/vendor_completions.d/hidsctl.fish",
}


def installed_env(**extra: str) -> dict[str, str]:
    """The environment without conftest's PYTHONPATH, so the installed package answers."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return {**env, **extra}


def install(*args: str, check: bool = True,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run([str(INSTALL), *args], capture_output=True, text=True,
                            timeout=600, stdin=subprocess.DEVNULL, env=env)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


@pytest.fixture(scope="module")
def staged():
    """One install under a temporary root; world-traversable so `nobody` can reach it."""
    root = Path(tempfile.mkdtemp(prefix="hidsctl-install-"))
    root.chmod(0o755)
    install("--root", str(root), "--no-accelerated")  # the compiled build: test_accelerated
    yield root
    shutil.rmtree(root)


def test_the_installed_command_runs_through_the_link(staged):
    link = staged / "usr/local/bin/hidsctl"
    assert link.is_symlink() and not os.readlink(link).startswith("/")  # relative in a stage
    assert link.resolve() == staged / "opt/hidsctl/bin/hidsctl"
    version = subprocess.run([str(link), "--version"], capture_output=True, text=True,
                             env=installed_env())
    assert version.returncode == 0 and version.stdout.startswith("hidsctl ")
    # The ruleset came along: the installed package, not the checkout, answers.
    listing = subprocess.run([str(link), "rules", "list", "--group", "sshd"], cwd="/",
                             env=installed_env(), capture_output=True, text=True)
    assert listing.returncode == 0 and "5716" in listing.stdout
    assert str(staged / "opt/hidsctl/lib") in listing.stdout  # file column: the venv's copy


def test_everything_in_the_virtualenv_is_world_readable(staged):
    for path in (staged / "opt/hidsctl").rglob("*"):
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        assert mode & stat.S_IROTH, path
        if path.is_dir():
            assert mode & stat.S_IXOTH, path
    python = (staged / "opt/hidsctl/pyvenv.cfg").read_text()
    assert "home = /usr/bin" in python  # made from the system Python


@pytest.mark.skipif(not is_root(), reason="needs root to switch to nobody")
def test_an_unprivileged_user_can_run_it(staged):
    result = subprocess.run([str(staged / "usr/local/bin/hidsctl"), "--version"], user="nobody",
                            cwd="/", capture_output=True, text=True, env=installed_env())
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(not is_root(), reason="needs root to run supervise with a service user")
def test_the_installed_command_runs_the_main_job(staged, world):
    """What the README says, on a clean state: the installed hidsctl runs `supervise --role
    local` as root with an unprivileged service user; 12 failed SSH logins and a changed
    file reach logs/alerts/ within 30 s, and nothing restarts."""
    from test_supervise_e2e import running, sshd_failure, status, wait_for
    from test_supervise_setup import _both_alerts, components, local_config

    hidsctl = staged / "usr/local/bin/hidsctl"
    config = local_config(world)
    state = world / "state"
    errors = world / "supervise.err"
    with open(errors, "wb") as err:
        proc = subprocess.Popen([str(hidsctl), "supervise", "--config", str(config),
                                 "--state-dir", str(state), "--role", "local", "--user",
                                 "nobody", "--no-summary"], cwd="/", env=installed_env(),
                                stdout=subprocess.DEVNULL, stderr=err)
    try:
        names = {"collect", "scan", "analyze", "logs"}
        report = wait_for(lambda: running(state, names), timeout=60, what="components running")
        assert {c["user"] for c in report["components"] if c["name"] in ("analyze", "logs")} \
            == {"nobody"}
        wait_for(lambda: "scan: hidsctl scan: watching" in errors.read_text(), timeout=60,
                 what="scan watching")
        with open(world / "auth.log", "a") as log:
            for n in range(12):
                log.write(sshd_failure(n))
        (world / "watched" / "app.conf").write_text("listen 8080\n")
        wait_for(lambda: _both_alerts(state / "logs" / "alerts" / "alerts.json"), timeout=30,
                 what="the brute-force and integrity alerts in logs/alerts/")
        assert {name: (c["state"], c["restarts"]) for name, c in
                components(status(state)).items()} == {name: ("running", 0) for name in names}
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    assert "restarting" not in errors.read_text()


def test_man_pages_are_installed_and_read_by_man(staged):
    man1 = staged / "usr/local/share/man/man1"
    assert sorted(p.name for p in man1.iterdir()) == sorted(p.name for p in (ROOT / "man").iterdir())
    if shutil.which("man") is None:
        pytest.skip("man is not installed")
    page = subprocess.run(["man", "-l", str(man1 / "hidsctl-scan.1")], capture_output=True,
                          text=True, env={**os.environ, "MANWIDTH": "100", "MANPAGER": "cat"})
    assert page.returncode == 0, page.stderr
    for section in ("NAME", "SYNOPSIS", "OPTIONS", "EXAMPLES", "FILES", "EXIT STATUS",
                    "SEE ALSO"):
        assert f"\n{section}\n" in page.stdout
    assert "STATE/syscheck.db" in page.stdout and "<path>" not in page.stdout
    # man finds it by name through the tree's man directory, as through /usr/local/share/man
    found = subprocess.run(["man", "-w", "-M", str(staged / "usr/local/share/man"),
                            "hidsctl-scan"], capture_output=True, text=True)
    assert found.stdout.strip() == str(man1 / "hidsctl-scan.1")


def test_completions_are_where_the_shells_look(staged):
    for shell, path in SHELLS_SEE.items():
        assert (staged / path).read_text() == (ROOT / "completions" / f"hidsctl.{shell}").read_text()


def completion_env(staged: Path) -> dict[str, str]:
    # A staged tree's share dirs are found the way /usr/share's are, through XDG_DATA_DIRS.
    return installed_env(XDG_DATA_DIRS=str(staged / "usr/share"), HOME=str(staged),
                         PATH=f"{staged / 'usr/local/bin'}:{os.environ['PATH']}")


@pytest.mark.skipif(not Path("/usr/share/bash-completion/bash_completion").exists(),
                    reason="bash-completion is not installed")
def test_bash_completion_loads_and_completes(staged):
    script = ('. /usr/share/bash-completion/bash_completion; __load_completion hidsctl; '
              'COMP_WORDS=(hidsctl sup); COMP_CWORD=1; _hidsctl_completion hidsctl; '
              'printf "%s\\n" "${COMPREPLY[@]}"')
    result = subprocess.run(["bash", "-c", script], env=completion_env(staged),
                            capture_output=True, text=True)
    assert "supervise" in result.stdout.split(), result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
def test_fish_completion_loads_and_completes(staged):
    # HOME is the staged tree: no user config, but fish's own (which sets the vendor dirs)
    result = subprocess.run(["fish", "-c", "complete -C 'hidsctl sup'"], cwd=staged,
                            env=completion_env(staged), capture_output=True, text=True)
    assert "supervise" in result.stdout, result.stdout + result.stderr


ZSH_TAB = r"""
zmodload zsh/zpty
zpty z 'zsh -f -i'
zpty -w z 'fpath=(%s $fpath); autoload -U compinit; compinit -u -D'
zpty -w -n z $'hidsctl sup\t'
all=""
deadline=$(( SECONDS + 30 ))
while (( SECONDS < deadline )) && [[ $all != *supervise* ]]; do
  if zpty -r -t z chunk; then all+=$chunk; else sleep 0.1; fi
done
zpty -d z
print -r -- "$all"
"""


@pytest.mark.skipif(shutil.which("zsh") is None, reason="zsh is not installed")
def test_zsh_completes_on_the_first_tab(staged):
    """From fpath, as compinit autoloads it: the very first Tab completes."""
    fpath = (staged / SHELLS_SEE["zsh"]).parent
    result = subprocess.run(["zsh", "-f", "-c", ZSH_TAB % fpath], env=completion_env(staged),
                            capture_output=True, text=True, timeout=60, cwd=staged)
    assert "hidsctl supervise" in result.stdout, result.stdout[-500:] + result.stderr


def test_the_unit_runs_the_installed_binary(staged):
    unit = (staged / "etc/systemd/system/hidsctl.service").read_text()
    exec_lines = [line for line in unit.splitlines() if line.startswith("ExecStart")]
    assert exec_lines and all(line.split("=", 1)[1].startswith(f"{PREFIX}/bin/hidsctl ")
                              for line in exec_lines)
    # the path the unit names, as seen from the staged root, is the working binary
    assert os.access(staged / PREFIX.lstrip("/") / "bin/hidsctl", os.X_OK)
    assert not (staged / "etc/systemd/system/multi-user.target.wants").exists()  # not enabled


def test_a_second_run_upgrades_in_place_and_enable_enables(staged):
    marker = staged / "opt/hidsctl/lib/marker"
    marker.write_text("kept")  # the virtualenv is reused, not made anew
    args = ["--root", str(staged), "--no-accelerated"] + (
        ["--enable"] if shutil.which("systemctl") else [])
    install(*args)
    assert marker.read_text() == "kept"
    marker.unlink()
    assert subprocess.run([str(staged / "usr/local/bin/hidsctl"), "--version"],
                          env=installed_env(), capture_output=True).returncode == 0
    if shutil.which("systemctl"):
        wanted = staged / "etc/systemd/system/multi-user.target.wants/hidsctl.service"
        assert wanted.is_symlink()


def test_bad_options_are_usage_errors():
    for args, message in ((["--frobnicate"], "unknown option: --frobnicate"),
                          (["--prefix", "opt"], "--prefix must be an absolute path: opt"),
                          (["--prefix"], "--prefix needs a value"),
                          (["--root", "/tmp/x", "--prefix", "/"], "--prefix / would put")):
        result = install(*args, check=False)
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_a_prefix_that_is_not_a_virtualenv_is_left_alone(tmp_path):
    (tmp_path / "opt/hidsctl").mkdir(parents=True)
    (tmp_path / "opt/hidsctl/precious").write_text("x")
    result = install("--root", str(tmp_path), check=False)
    assert result.returncode == 1 and "is not a virtualenv" in result.stderr
    assert (tmp_path / "opt/hidsctl/precious").read_text() == "x"


def test_help_names_every_option():
    text = install("--help").stdout
    for option in ("--prefix", "--bin-dir", "--man-dir", "--bash-completion-dir",
                   "--zsh-completion-dir", "--fish-completion-dir", "--unit-dir", "--root",
                   "--python", "--test", "--accelerated", "--no-accelerated",
                   "--no-system-packages", "--no-users",
                   "--users", "--enable", "--uninstall"):
        assert option in text


def test_own_paths_without_root_then_uninstall(staged, tmp_path):
    """Every path given by option, no staging root: what a test of a running install uses.
    The prefix is the staged virtualenv, reused (as a second run does) to save making
    another; so this test runs last, and removes it."""
    dirs = {name: tmp_path / name for name in ("bin", "man", "bash", "zsh", "fish", "units")}
    dirs["venv"] = staged / "opt/hidsctl"
    args = ["--no-system-packages", "--no-users", "--prefix", str(dirs["venv"]),
            "--bin-dir", str(dirs["bin"]), "--man-dir", str(dirs["man"]),
            "--bash-completion-dir", str(dirs["bash"]), "--zsh-completion-dir", str(dirs["zsh"]),
            "--fish-completion-dir", str(dirs["fish"]), "--unit-dir", str(dirs["units"])]
    # The default build is the compiled one; with no compiler it falls back, and says so.
    fallback = install(*args, env={**os.environ, "CC": str(tmp_path / "no-such-cc")})
    assert "no C compiler or no Python headers" in fallback.stdout
    assert not list(dirs["venv"].glob("lib/python3*/site-packages/hidsctl/analysis/*.so"))
    assert os.readlink(dirs["bin"] / "hidsctl") == str(dirs["venv"] / "bin/hidsctl")
    assert subprocess.run([str(dirs["bin"] / "hidsctl"), "--version"], env=installed_env(),
                          capture_output=True).returncode == 0
    assert (dirs["man"] / "man1/hidsctl.1").is_file()
    assert {p.name for d in ("bash", "zsh", "fish") for p in dirs[d].iterdir()} == {
        "hidsctl", "_hidsctl", "hidsctl.fish"}
    unit = (dirs["units"] / "hidsctl.service").read_text()
    assert f"ExecStart={dirs['venv']}/bin/hidsctl supervise" in unit

    (dirs["bin"] / "other").write_text("not ours")
    install(*args, "--uninstall")
    leftovers = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")
                       if not p.is_dir())
    assert leftovers == ["bin/other"]
    assert (staged / "usr/local/bin/hidsctl").is_symlink()  # another tree's link: not ours
    assert not dirs["venv"].exists()
    install(*args, "--uninstall")  # nothing left to remove is fine


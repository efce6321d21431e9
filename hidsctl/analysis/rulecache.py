"""The compiled-ruleset cache: a loaded ruleset saved, so the next start skips parsing the
XML, compiling some thousand patterns and compiling the generated rule code.

One file per set of source paths (``ruleset-<hash of the paths>.cache``) in the cache
directory (:func:`cache_dir`). The file starts with a JSON header line: the key (the cache
format, hidsctl's version and the stat of its analysis modules, Python's version, bytecode
magic number and regex engine magic) and every source that went into the ruleset with the
SHA-256 of its content (the ossec.conf that selected them, each decoder and rule file, each
CDB list and where it was found), and the SHA-256 of the payload. The payload is a pickle of
the :class:`~hidsctl.analysis.ruleset.Ruleset` (its ``compiled`` memo holds the generated
rule code, marshalled). A file is used only when every hash still matches; otherwise the
ruleset is loaded from its sources and the file written again, atomically (a reader sees
the old file or the new one, never a mix; of two writers the last wins).

A pickle and a marshalled code object run code of their author's choosing when loaded, so a
cache file is trusted exactly as far as hidsctl's own code is: it is read only when it is a
regular file owned by the running user and writable by nobody else (and written in a
directory made 0700). Anything else -- another owner, group or world write bits, a
truncated or corrupt file -- is ignored with one notice on stderr and rebuilt.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import pickle
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from hidsctl import diagnostics
from hidsctl.analysis.sourcefile import open_source

if TYPE_CHECKING:
    from hidsctl.analysis.ruleset import Ruleset, RulesetSources

FORMAT = 1
MAGIC = b"hidsctl-ruleset-cache\n"
OFF = ("0", "off", "no", "false")

_directory: Path | None = None  # where the cache lives; None: no cache (library use)
_noticed = False


def cache_dir(state_dir: Path | None = None) -> Path | None:
    """Where the cache lives: ``<state dir>/cache`` when a state directory is given
    (``--state-dir`` or $HIDSCTL_STATE_DIR), else $XDG_CACHE_HOME/hidsctl
    (~/.cache/hidsctl), or /var/cache/hidsctl as root without $XDG_CACHE_HOME.
    None when $HIDSCTL_RULE_CACHE is off."""
    if os.environ.get("HIDSCTL_RULE_CACHE", "").lower() in OFF:
        return None
    if state_dir is not None:
        return Path(state_dir) / "cache"
    if os.environ.get("HIDSCTL_STATE_DIR"):
        return Path(os.environ["HIDSCTL_STATE_DIR"]) / "cache"
    if os.environ.get("XDG_CACHE_HOME"):
        return Path(os.environ["XDG_CACHE_HOME"]) / "hidsctl"
    if os.geteuid() == 0:
        return Path("/var/cache/hidsctl")
    return Path.home() / ".cache" / "hidsctl"


def enable(state_dir: Path | None = None) -> None:
    """Use the cache for this process (the commands call this; library use has none)."""
    global _directory
    _directory = cache_dir(state_dir)


def disable() -> None:
    global _directory
    _directory = None


def active() -> Path | None:
    return _directory


def notice(message: str) -> None:
    """At most one notice a process: a cache problem is worth saying once, not per load."""
    global _noticed
    if not _noticed:
        _noticed = True
        diagnostics.logger("rule-cache").warning(message)


# --- the key -------------------------------------------------------------------------------

def _digest(path: Path) -> str | None:
    try:
        with open_source(path) as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


def _code_stamp() -> str:
    """hidsctl's version and the size and mtime of its analysis modules: a development
    tree's edit to the loader or the compiler changes what a ruleset compiles to. The
    modules compiled to extensions (the accelerated build, setup.py) count too: their classes
    pickle differently from the pure-Python ones."""
    from hidsctl import __version__

    here = Path(__file__).parent
    stamp = hashlib.sha256(__version__.encode())
    for module in sorted(here.glob("*.py")) + [here.parent / "errors.py"] + \
            sorted(here.glob("*.so")) + sorted(here.parent.glob("*.so")):
        try:
            info = module.stat()
        except OSError:
            continue
        stamp.update(f"{module.name}:{info.st_size}:{info.st_mtime_ns};".encode())
    return stamp.hexdigest()


def _runtime() -> dict[str, Any]:
    from re import _constants  # type: ignore[attr-defined]

    return {"format": FORMAT, "hidsctl": _code_stamp(), "python": sys.version,
            "magic": importlib.util.MAGIC_NUMBER.hex(), "sre": _constants.MAGIC}


def _source_key(sources: RulesetSources, conf: Path | None) -> dict[str, Any]:
    """What was chosen to load (paths, in order) and what each file holds."""
    def files(paths: list[Path]) -> list[list[str | None]]:
        return [[str(p), _digest(p)] for p in paths]

    return {"conf": files([conf]) if conf is not None else None,
            "decoders": files(sources.decoder_files), "rules": files(sources.rule_files),
            "list_dirs": [str(p) for p in sources.list_dirs],
            "list_files": [str(p) for p in sources.list_files]}


def fingerprint(ruleset: Ruleset, conf: Path | None) -> str:
    """What the ruleset was loaded from, as one hash: every source file's and CDB list's
    path and SHA-256, as the cache's key has them. Two processes that load the same files
    get the same fingerprint (``analyze --workers N`` on one agent's stream compares them
    to know its processes match with the same rules, pipeline.py). A ruleset read from or
    written to the cache has it from the key checked or written then (the files are not
    hashed again); another one gets it here, right after its load."""
    if ruleset.fingerprint is None:
        ruleset.fingerprint = _fingerprint_of(_source_key(ruleset.sources, conf),
                                              _lists_key(ruleset))
    return ruleset.fingerprint


def _fingerprint_of(sources: Any, lists: Any) -> str:
    key = {"sources": sources, "lists": lists}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()


def _lists_key(ruleset: Ruleset) -> dict[str, list[str | None]]:
    return {name: [str(table.path), _digest(Path(table.path))]
            for name, table in sorted(ruleset.lists.items())}


def _lists_still(recorded: dict[str, list[str | None]], sources: RulesetSources) -> bool:
    """Each list the rules named is still found where it was, with the same content."""
    from hidsctl.analysis.ruleset import find_list

    for name, (path, digest) in recorded.items():
        found = find_list(name, sources)
        if found is None or str(found) != path or _digest(found) != digest:
            return False
    return True


def _file_name(sources: RulesetSources, conf: Path | None) -> str:
    chosen = [str(conf)] + [str(p) for p in sources.decoder_files + sources.rule_files
                            + sources.list_dirs]
    return f"ruleset-{hashlib.sha256(chr(0).join(chosen).encode()).hexdigest()[:20]}.cache"


# --- reading -------------------------------------------------------------------------------

def _read_trusted(path: Path) -> bytes | None:
    """The file's bytes when only the running user can have written it; else a notice."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        notice(f"rule cache {path} ignored: {exc.strerror}")
        return None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            notice(f"rule cache {path} ignored: not a regular file")
            return None
        if info.st_uid != os.geteuid():
            notice(f"rule cache {path} ignored: owned by uid {info.st_uid}, not by the running "
                   f"user (uid {os.geteuid()})")
            return None
        if info.st_mode & 0o022:
            notice(f"rule cache {path} ignored: writable by others "
                   f"(mode {stat.S_IMODE(info.st_mode):04o})")
            return None
        return handle.read()


def _split(blob: bytes) -> tuple[dict[str, Any], bytes] | None:
    if not blob.startswith(MAGIC):
        return None
    end = blob.find(b"\n", len(MAGIC))
    if end < 0:
        return None
    try:
        header = json.loads(blob[len(MAGIC):end])
    except ValueError:
        return None
    payload = blob[end + 1:]
    if not isinstance(header, dict) or header.get("payload") != hashlib.sha256(
            payload).hexdigest():
        return None
    return header, payload


class _Unpickler(pickle.Unpickler):
    """Loads only what a ruleset is made of: hidsctl's classes, the regex engines' and a
    few standard types; a file that names anything else is not a ruleset cache."""

    ALLOWED = ("hidsctl.", "re", "_sre", "regex", "ipaddress", "pathlib", "collections",
               "builtins", "copyreg", "functools", "datetime", "enum", "re2", "_re2")

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith(self.ALLOWED[0]) or module in self.ALLOWED[1:] or \
                module.startswith("regex."):
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"unexpected {module}.{name}")


def load(sources: RulesetSources, conf: Path | None) -> Ruleset | None:
    """The cached ruleset for these sources, or None (no cache, or not this ruleset's)."""
    if _directory is None:
        return None
    path = _directory / _file_name(sources, conf)
    blob = _read_trusted(path)
    if blob is None:
        return None
    parts = _split(blob)
    if parts is None:
        notice(f"rule cache {path} ignored: truncated or corrupt; rebuilding it")
        return None
    header, payload = parts
    if header.get("runtime") != _runtime() or header.get("sources") != _source_key(
            sources, conf) or not _lists_still(header.get("lists") or {}, sources):
        return None  # another version or another ruleset: rebuilt without a word
    try:
        import io

        ruleset = _Unpickler(io.BytesIO(payload)).load()
    except Exception as exc:  # noqa: BLE001 - any failure means: load from the sources
        notice(f"rule cache {path} ignored: {type(exc).__name__}: {exc}; rebuilding it")
        return None
    from hidsctl.analysis.ruleset import Ruleset

    if not isinstance(ruleset, Ruleset):
        notice(f"rule cache {path} ignored: not a ruleset; rebuilding it")
        return None
    ruleset.sources = sources  # the paths as given this time (the same files)
    ruleset.fingerprint = _fingerprint_of(header["sources"], header.get("lists") or {})
    return ruleset


# --- writing -------------------------------------------------------------------------------

def _sre_pattern(pattern: Any, flags: int, code: list[int], groups: int,
                 groupindex: dict[str, int], indexgroup: tuple[str | None, ...]) -> Any:
    from re import _compiler  # type: ignore[attr-defined]

    return _compiler._sre.compile(pattern, flags, code, groups, groupindex, indexgroup)


def _reduce_re(rx: Any) -> tuple[Callable[..., Any], tuple[Any, ...]]:
    """A stdlib pattern saved with its compiled program, so loading it skips re's parser and
    compiler (the key's Python version and ``_sre.MAGIC`` say the program still fits)."""
    from re import _compiler, _parser  # type: ignore[attr-defined]

    code = [int(op) for op in _compiler._code(_parser.parse(rx.pattern, rx.flags), rx.flags)]
    groupindex = dict(rx.groupindex)
    indexgroup: list[str | None] = [None] * (rx.groups + 1)
    for name, index in groupindex.items():
        indexgroup[index] = name
    return _sre_pattern, (rx.pattern, rx.flags, code, rx.groups, groupindex, tuple(indexgroup))


class _Pickler(pickle.Pickler):
    def reducer_override(self, obj: Any) -> Any:
        import re

        if type(obj) is re.Pattern:
            try:
                return _reduce_re(obj)
            except Exception:  # noqa: BLE001 - re's internals moved: save it the plain way
                return NotImplemented
        return NotImplemented


def save(ruleset: Ruleset, conf: Path | None) -> None:
    """Write the cache for ``ruleset``; a cache that cannot be written is said once and
    otherwise only costs the next start its time."""
    if _directory is None:
        return
    import io

    from hidsctl.state import atomic_write

    path = _directory / _file_name(ruleset.sources, conf)
    try:
        buffer = io.BytesIO()
        _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(ruleset)
    except Exception as exc:  # noqa: BLE001 - an unpicklable ruleset only goes uncached
        notice(f"rule cache not written: {type(exc).__name__}: {exc}")
        return
    payload = buffer.getvalue()
    header = {"runtime": _runtime(), "sources": _source_key(ruleset.sources, conf),
              "lists": _lists_key(ruleset), "payload": hashlib.sha256(payload).hexdigest()}
    ruleset.fingerprint = _fingerprint_of(header["sources"], header["lists"])
    try:
        _directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        atomic_write(path, MAGIC + json.dumps(header).encode() + b"\n" + payload, mode=0o600)
    except OSError as exc:
        notice(f"rule cache {path} not written: {exc.strerror or exc}")

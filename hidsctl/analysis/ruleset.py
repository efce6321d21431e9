"""Loading a whole ruleset: which files, in which order, and everything in them compiled.

The base ruleset is one of:

- no options: the bundled ruleset (``decoders/*.xml``, then ``rules/*.xml`` in file-name
  order, lists under ``lists/``);
- ``--ossec-conf FILE``: the ``<rules>`` section of an ossec.conf (``<decoder>``,
  ``<decoder_dir>``, ``<include>``/``<rule>``, ``<rule_dir>``, ``<list>``), its names
  resolved as OSSEC resolves them in its install root (``OssecLayout``), with OSSEC's
  default ``etc/decoder.xml`` and ``etc/local_decoder.xml`` when it names no decoders;
- ``--no-default-rules``: nothing.

``--decoders FILE|DIR`` and ``--rules FILE|DIR`` (each repeatable) add files after the base,
in order, as OSSEC's local_decoder.xml and local_rules.xml do. A file named twice loads once.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from hidsctl import resources
from hidsctl.analysis import hardening, xmlload
from hidsctl.analysis.cdb import CdbList
from hidsctl.analysis.decoders import DecoderSet, decoder_from_xml
from hidsctl.analysis.plugins import PLUGINS
from hidsctl.analysis.rules import RuleTree, rule_from_xml
from hidsctl.errors import (ConfigError, DecoderError, HidsError, RuleError, SourceLocation,
                            UsageError)

if TYPE_CHECKING:
    from hidsctl.analysis.compiler import Generated


# Decoders analysis provides itself (integrity, rootcheck and host events).
BUILTIN_DECODERS = frozenset({
    "syscheck_integrity_changed", "syscheck_integrity_changed_2nd",
    "syscheck_integrity_changed_3rd", "syscheck_deleted", "syscheck_new_entry", "rootcheck",
    "hostinfo_new", "hostinfo_modified"})


@dataclass
class RulesetSources:
    decoder_files: list[Path] = field(default_factory=list)
    rule_files: list[Path] = field(default_factory=list)
    list_dirs: list[Path] = field(default_factory=list)
    list_files: list[Path] = field(default_factory=list)


@dataclass
class Ruleset:
    decoders: DecoderSet
    tree: RuleTree
    sources: RulesetSources
    lists: dict[str, CdbList]
    warnings: list[str] = field(default_factory=list)
    # The generated rule code compiled for this ruleset (compiler.run_generated), marshalled,
    # by the hash of its source: a memo the compiled-ruleset cache (rulecache.py) keeps.
    compiled: dict[str, bytes] = field(default_factory=dict)
    # The generated rule code's source and bindings (compiler.Generated), kept likewise.
    generated: Generated | None = None
    # The files it was loaded from, as one hash (rulecache.fingerprint); set when known.
    fingerprint: str | None = None


def _xml_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix == ".xml" and p.is_file())
    return [path]


def bundled_sources() -> RulesetSources:
    base = resources.rules_dir()
    return RulesetSources(_xml_files(base / "decoders") if (base / "decoders").is_dir() else [],
                          _xml_files(base / "rules") if (base / "rules").is_dir() else [],
                          [base / "lists", base])


@dataclass(frozen=True)
class OssecLayout:
    """Where an OSSEC install keeps what its ossec.conf names.

    OSSEC 4.x runs chrooted in its install root (``/var/ossec``) and reads every name of
    ``<rules>`` relative to it: a bare ``<include>`` name under ``rules/``, anything with a
    ``/`` (``etc/decoder.xml``, ``etc/lists/x``, a ``<rule_dir>``) from the root, an absolute
    name inside the chroot. The root is the parent of the conf's ``etc/``; a source checkout
    keeps the rules under ``etc/rules`` instead; a conf kept elsewhere (beside its
    ``rules/`` and ``decoder.xml``) is its own root.
    """

    conf: Path
    root: Path
    conf_dir: Path

    @classmethod
    def of(cls, conf: Path) -> "OssecLayout":
        conf_dir = conf.absolute().parent
        root = conf_dir.parent if conf_dir.name == "etc" else conf_dir
        return cls(conf, root, conf_dir)

    def candidates(self, name: str, bare_under: str | None = None) -> list[Path]:
        path = Path(name)
        if path.is_absolute():
            # a chrooted OSSEC reads "/rules/x.xml" as <root>/rules/x.xml
            found = [path, self.root / path.relative_to(path.anchor)]
        elif bare_under is not None and "/" not in name:
            found = [self.root / bare_under / name, self.root / "etc" / bare_under / name,
                     self.conf_dir / name]
        else:
            found = [self.root / path, self.root / "etc" / path, self.conf_dir / path]
            if path.parts[0] == "etc" and len(path.parts) > 1:
                found.append(self.conf_dir / Path(*path.parts[1:]))
        return list(dict.fromkeys(found))

    def resolve(self, name: str, what: str, bare_under: str | None = None,
                where: SourceLocation | None = None) -> Path:
        if not name:
            raise ConfigError(f"empty {what} name", where or SourceLocation(str(self.conf)))
        tried = self.candidates(name, bare_under)
        for cand in tried:
            if cand.exists():
                return cand
        raise ConfigError(f"{what} {name!r} not found (looked for "
                          f"{', '.join(str(c) for c in tried)})",
                          where or SourceLocation(str(self.conf)))

    def list_dirs(self) -> list[Path]:
        return list(dict.fromkeys([self.root, self.root / "rules", self.root / "etc" / "lists",
                                   self.conf_dir, self.conf_dir / "lists"]))


def sources_from_ossec_conf(conf: Path) -> RulesetSources:
    nodes = xmlload.parse_file(conf, ConfigError)
    layout = OssecLayout.of(conf)
    src = RulesetSources(list_dirs=layout.list_dirs())
    found_rules = False
    for top in nodes:
        for section in (top.children if top.tag == "ossec_config" else [top]):
            if section.tag != "rules":
                continue
            found_rules = True
            for item in section.children:
                _add_rules_item(src, layout, item)
    if not found_rules:
        raise ConfigError("no <rules> section", SourceLocation(str(conf)))
    if not src.decoder_files:
        # OSSEC's default: etc/decoder.xml (required), then etc/local_decoder.xml if present
        src.decoder_files.append(layout.resolve("etc/decoder.xml", "decoder file"))
        local = next((c for c in layout.candidates("etc/local_decoder.xml") if c.is_file()), None)
        if local is not None:
            src.decoder_files.append(local)
    return src


def _add_rules_item(src: RulesetSources, layout: OssecLayout, item: xmlload.Node) -> None:
    text, where = item.text.strip(), item.where()
    if item.tag == "decoder":
        src.decoder_files.append(layout.resolve(text, "decoder file", where=where))
    elif item.tag == "decoder_dir":
        src.decoder_files.extend(_xml_files(layout.resolve(text, "decoder_dir", where=where)))
    elif item.tag in ("include", "rule"):
        src.rule_files.append(layout.resolve(text, "rule file", "rules", where))
    elif item.tag == "rule_dir":
        src.rule_files.extend(_xml_files(layout.resolve(text, "rule_dir", where=where)))
    elif item.tag == "list":
        src.list_files.append(Path(text))
    elif item.tag in ("rule_exclude", "decoder_exclude"):
        src.rule_files = [p for p in src.rule_files if p.name != text]
        src.decoder_files = [p for p in src.decoder_files if p.name != text]


def _dedupe(paths: list[Path]) -> list[Path]:
    """Each file once, at its first place: a file named twice (the conf's rules dir given
    again with --rules) would otherwise load twice and clash with itself."""
    seen: set[str] = set()
    out = []
    for path in paths:
        real = os.path.realpath(path)
        if real not in seen:
            seen.add(real)
            out.append(path)
    return out


def gather_sources(ossec_conf: Path | None = None, rules: list[Path] | None = None,
                   decoders: list[Path] | None = None, *,
                   no_default_rules: bool = False) -> RulesetSources:
    """The base ruleset (the conf's, else the bundled one; none with ``no_default_rules``)
    and then ``--decoders`` and ``--rules`` after it, in order, as OSSEC loads its
    local_decoder.xml and local_rules.xml after its own files."""
    if ossec_conf is not None and no_default_rules:
        raise UsageError("--no-default-rules drops the base ruleset, which --ossec-conf names; "
                         "give one of them")
    if ossec_conf is not None:
        src = sources_from_ossec_conf(ossec_conf)
    elif no_default_rules:
        src = RulesetSources()
    else:
        src = bundled_sources()
    for path in decoders or []:
        if not path.exists():
            raise ConfigError(f"decoder file {path} does not exist")
        src.decoder_files.extend(_xml_files(path))
    for path in rules or []:
        if not path.exists():
            raise ConfigError(f"rules {path} do not exist")
        src.rule_files.extend(_xml_files(path))
        base = path if path.is_dir() else path.parent
        src.list_dirs[:0] = [base, base / "lists", base.parent / "lists"]
    src.decoder_files = _dedupe(src.decoder_files)
    src.rule_files = _dedupe(src.rule_files)
    return src


def load(sources: RulesetSources, *, errors: list[HidsError] | None = None) -> Ruleset:
    """Read, check and compile a ruleset. With ``errors``, collect every problem instead of
    stopping at the first (``rules check``)."""
    collected: list[str] = []

    def problem(exc: HidsError) -> None:
        if errors is None:
            raise exc
        errors.append(exc)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        decoders = DecoderSet()
        mended: list[str] = []
        for path in sources.decoder_files:
            try:
                nodes = xmlload.parse_file(path, DecoderError)
            except HidsError as exc:
                problem(exc)
                continue
            for node in nodes:
                try:
                    if node.tag.lower() != "decoder":
                        raise DecoderError(f"unexpected <{node.tag}> (only <decoder> and <var> "
                                           "belong in a decoder file)", node.where())
                    safe = hardening.mend(node)
                    if safe is not None:
                        mended.append(node.attrs["name"])
                    decoders.add(decoder_from_xml(safe or node, PLUGINS))
                except HidsError as exc:
                    problem(exc)
        if mended:
            warnings.warn(hardening.warning(mended), stacklevel=1)
        tree = RuleTree()
        names = decoders.names | BUILTIN_DECODERS
        for path in sources.rule_files:
            try:
                nodes = xmlload.parse_file(path, RuleError)
            except HidsError as exc:
                problem(exc)
                continue
            for group in nodes:
                if group.tag.lower() != "group":
                    problem(RuleError(f"unexpected <{group.tag}> (rules belong in <group>)",
                                      group.where()))
                    continue
                gname = group.attrs.get("name", "")
                for node in group.children:
                    try:
                        if node.tag.lower() != "rule":
                            raise RuleError(f"unexpected <{node.tag}> in <group>", node.where())
                        tree.add(rule_from_xml(node, gname, names))
                    except HidsError as exc:
                        problem(exc)
        for rule in tree.rules():
            try:
                tree.link_correlation(rule)
            except HidsError as exc:
                problem(exc)
        lists = _load_lists(tree, sources, problem)
        tree.finish()
        collected.extend(str(w.message) for w in caught)
    return Ruleset(decoders, tree, sources, lists, collected)


def _load_lists(tree: RuleTree, sources: RulesetSources,
                problem: Callable[[HidsError], None]) -> dict[str, CdbList]:
    cache: dict[str, CdbList] = {}
    for rule in tree.rules():
        for list_rule in rule.lists:
            name = list_rule.path
            table = cache.get(name)
            if table is None:
                path = find_list(name, sources)
                if path is None:
                    problem(RuleError(f"list {name!r} not found (looked in "
                                      f"{', '.join(str(d) for d in sources.list_dirs)})",
                                      list_rule.where))
                    continue
                try:
                    table = cache[name] = CdbList.load(path)
                except HidsError as exc:
                    problem(exc)
                    continue
            list_rule.table = table
    return cache


def find_list(name: str, sources: RulesetSources) -> Path | None:
    stems = [name, name.removesuffix(".cdb")]
    if name.startswith("etc/"):
        stems.append(name[4:])
    for stem in stems:
        p = Path(stem)
        if p.is_absolute() and p.is_file():
            return p
        for base in sources.list_dirs:
            for cand in (base / stem, base / Path(stem).name):
                if cand.is_file():
                    return cand
    return None

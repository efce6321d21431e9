"""Loading a whole ruleset: which files, in which order, and everything in them compiled.

- no options: the bundled ruleset (``decoders/*.xml``, then ``rules/*.xml`` in file-name
  order, lists under ``lists/``);
- ``--ossec-conf FILE``: the ``<rules>`` section of an ossec.conf (``<decoder>``,
  ``<decoder_dir>``, ``<include>``/``<rule>``, ``<rule_dir>``, ``<list>``), with OSSEC's
  default ``decoder.xml`` and ``local_decoder.xml`` beside it when it names no decoders;
- ``--rules DIR|FILE`` and ``--decoders FILE|DIR`` (each repeatable) add files after those.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

from hidsctl import resources
from hidsctl.analysis import xmlload
from hidsctl.analysis.cdb import CdbList
from hidsctl.analysis.decoders import DecoderSet, decoder_from_xml
from hidsctl.analysis.plugins import PLUGINS
from hidsctl.analysis.rules import Rule, RuleTree, rule_from_xml
from hidsctl.errors import ConfigError, DecoderError, HidsError, RuleError, SourceLocation


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


def _xml_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(p for p in path.iterdir() if p.suffix == ".xml" and p.is_file())
    return [path]


def bundled_sources() -> RulesetSources:
    base = resources.rules_dir()
    return RulesetSources(_xml_files(base / "decoders") if (base / "decoders").is_dir() else [],
                          _xml_files(base / "rules") if (base / "rules").is_dir() else [],
                          [base / "lists", base])


def sources_from_ossec_conf(conf: Path) -> RulesetSources:
    nodes = xmlload.parse_file(conf, ConfigError)
    base = conf.resolve().parent
    src = RulesetSources(list_dirs=[base, base / "lists", base / "rules"])

    def resolve(name: str, where: str) -> Path:
        candidates = [Path(name)] if Path(name).is_absolute() else [
            base / name, base / "rules" / name, base / "etc" / name, base / "decoders" / name,
            Path(name)]
        for cand in candidates:
            if cand.exists():
                return cand
        raise ConfigError(f"{where} {name!r} not found (looked beside {conf})",
                          SourceLocation(str(conf)))

    found_rules = False
    for top in nodes:
        for section in (top.children if top.tag == "ossec_config" else [top]):
            if section.tag != "rules":
                continue
            found_rules = True
            for item in section.children:
                if item.tag == "decoder":
                    src.decoder_files.append(resolve(item.text, "decoder file"))
                elif item.tag == "decoder_dir":
                    src.decoder_files.extend(_xml_files(resolve(item.text, "decoder_dir")))
                elif item.tag in ("include", "rule"):
                    src.rule_files.append(resolve(item.text, "rule file"))
                elif item.tag == "rule_dir":
                    src.rule_files.extend(_xml_files(resolve(item.text, "rule_dir")))
                elif item.tag == "list":
                    src.list_files.append(Path(item.text))
                elif item.tag == "rule_exclude" or item.tag == "decoder_exclude":
                    excluded = item.text
                    src.rule_files = [p for p in src.rule_files if p.name != excluded]
                    src.decoder_files = [p for p in src.decoder_files if p.name != excluded]
    if not found_rules:
        raise ConfigError("no <rules> section", SourceLocation(str(conf)))
    if not src.decoder_files:
        for name in ("decoder.xml", "etc/decoder.xml", "local_decoder.xml",
                     "etc/local_decoder.xml"):
            if (base / name).is_file():
                src.decoder_files.append(base / name)
    return src


def gather_sources(ossec_conf: Path | None = None, rules: list[Path] | None = None,
                   decoders: list[Path] | None = None) -> RulesetSources:
    rules = list(rules or [])
    decoders = list(decoders or [])
    if ossec_conf is not None:
        src = sources_from_ossec_conf(ossec_conf)
    elif rules or decoders:
        bundled = bundled_sources()
        src = RulesetSources(decoder_files=[] if decoders else bundled.decoder_files,
                             rule_files=[] if rules else bundled.rule_files,
                             list_dirs=list(bundled.list_dirs))
    else:
        return bundled_sources()
    for path in decoders:
        if not path.exists():
            raise ConfigError(f"decoder file {path} does not exist")
        src.decoder_files.extend(_xml_files(path))
    for path in rules:
        if not path.exists():
            raise ConfigError(f"rules {path} do not exist")
        src.rule_files.extend(_xml_files(path))
        base = path if path.is_dir() else path.parent
        src.list_dirs[:0] = [base, base / "lists", base.parent / "lists"]
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
                    decoders.add(decoder_from_xml(node, PLUGINS))
                except HidsError as exc:
                    problem(exc)
        tree = RuleTree()
        names = decoders.names | BUILTIN_DECODERS
        loaded: list[Rule] = []
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
                        rule = rule_from_xml(node, gname, names)
                        tree.add(rule)
                        if not rule.overwrite:
                            loaded.append(rule)
                    except HidsError as exc:
                        problem(exc)
        for rule in loaded:
            try:
                tree.link_correlation(rule)
            except HidsError as exc:
                problem(exc)
        lists = _load_lists(tree, sources, problem)
        collected.extend(str(w.message) for w in caught)
    return Ruleset(decoders, tree, sources, lists, collected)


def _load_lists(tree: RuleTree, sources: RulesetSources, problem) -> dict[str, CdbList]:
    cache: dict[str, CdbList] = {}
    for rule in tree.rules():
        for list_rule in rule.lists:
            name = list_rule.path
            table = cache.get(name)
            if table is None:
                path = _find_list(name, sources)
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


def _find_list(name: str, sources: RulesetSources) -> Path | None:
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

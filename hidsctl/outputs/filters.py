"""Which alerts an output takes: a minimum level, rule ids and groups (OSSEC's
email_alert_level, rule_id and group options)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable


@dataclass(frozen=True)
class AlertFilter:
    level: int = 0
    rule_ids: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()

    @classmethod
    def build(cls, level: int, rule_ids: Iterable[str] = (), groups: Iterable[str] = ()) -> "AlertFilter":
        return cls(level, frozenset(str(r) for r in rule_ids), frozenset(groups))

    def matches(self, alert: dict[str, Any]) -> bool:
        """An alert at or above the level, and (when given) of one of the rule ids or groups."""
        rule = alert.get("rule") or {}
        try:
            level = int(rule.get("level", 0))
        except (TypeError, ValueError):
            level = 0
        if level < self.level:
            return False
        if self.rule_ids and str(rule.get("id", "")) not in self.rule_ids:
            return False
        if self.groups and not self.groups.intersection(rule.get("groups") or ()):
            return False
        return True

"""File integrity monitoring (OSSEC's syscheckd) and rootkit/policy checks (rootcheck)."""

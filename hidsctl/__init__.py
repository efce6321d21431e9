"""hidsctl: host-based intrusion detection in OSSEC's architecture, as composable commands."""

__version__ = "0.1.0"

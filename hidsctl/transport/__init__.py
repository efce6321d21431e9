"""The agent-server link: keys, the wire protocol, ``send``, ``receive``, enrollment,
plain syslog and agent connectivity."""

"""Agentless checks: SSH into hosts and network devices that cannot run an agent.

The job of OSSEC's agentlessd and its expect scripts: integrity of remote files
(``integrity``), diffs of command output (``diff``) and of device configurations fetched
through an interactive shell driven by a device profile (``device``, ``profiles/``).
"""

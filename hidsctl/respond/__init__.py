"""Active response (OSSEC's execd): decide which alerts call for a response, run the
response scripts safely, undo them on time, and route responses to agents.

- ``settings``: the typed config (commands, responses, allow-list) and its validation.
- ``ossec``: import of ``ossec.conf`` ``<command>``/``<active-response>``/``<white_list>``.
- ``values``: validation of the attacker-controlled values that reach scripts.
- ``allowlist``: addresses never acted on (configured, the host's own, the servers).
- ``timers``: active actions, their undo times and offence counts, in SQLite.
- ``scripts``: runs one script: argument list, JSON on stdin, time limit, captured output.
- ``routing``: writes ``ar`` records for agents to a FIFO, Unix socket or file.
- ``engine``: ties them together, one record in, ``ar_result`` records out.
- ``run``: the stage loop: records in, undos on the wall clock, until end of input.
"""

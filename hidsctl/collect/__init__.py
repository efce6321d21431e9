"""``hidsctl collect``: OSSEC's logcollector. Follows log files (rotation, truncation,
restart without loss or repeats), command output and the systemd journal, and writes one
``log`` record per entry.

    settings.py   the settings dataclass and the sources it names
    emit.py       turns entries into ``log`` records, with a batch fast path
    formats.py    framing: one line, a fixed count of lines, regex multi-line, JSON, web logs
    tail.py       one followed file: reading, rotation, truncation, fingerprints
    offsets.py    offsets in SQLite, so a restart resumes exactly
    watch.py      inotify with a polling fallback
    command.py    ``command`` / ``full_command`` sources
    journal.py    the systemd journal through ``journalctl -o json``
    run.py        the loop that ties them together
"""

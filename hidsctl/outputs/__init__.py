"""Alert outputs: OSSEC's alert logs, maild and csyslogd as stages reading alert records.

Outputs are sinks: they write nothing to stdout except ``notice`` records of their own
(records dropped at a queue bound).
"""

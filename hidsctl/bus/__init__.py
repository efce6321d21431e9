"""hidsctl on a NATS JetStream bus: the tiers of a server (receive, analyze, the outputs)
scaled out over several machines, joined by streams partitioned by agent id.

- address.py: ``nats://HOST:PORT[,HOST:PORT]/STREAM`` parsed;
- partition.py: which partition an agent's records go to, and the subjects;
- client.py: connecting, creating streams, and a sync wrapper for callers without a loop;
- publish.py: what ``receive --to`` does with an agent's batch;
- group.py, snapshot.py: ``analyze --from --group``: partitions leased to the members of a
  group, correlation state snapshotted beside the leases.

docs/scale-out.md describes the topology and the guarantees.
"""

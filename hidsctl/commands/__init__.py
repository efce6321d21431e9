"""One module per command; each defines ``register(app)``. cli.py finds them all."""

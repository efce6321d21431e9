"""One module per command; each defines ``register(app)``, the one way cli.py's docstring
describes. cli.py finds them all."""

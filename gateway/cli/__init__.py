"""``airlock``, the command line: :mod:`gateway.cli.main` parses and runs a command,
:mod:`gateway.cli.compose` is the composition root, the other modules are one command group
each (and :mod:`gateway.cli.client`, the HTTP client of the commands that talk to a gateway)."""

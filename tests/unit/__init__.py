"""Fast tests: one module (or a few) at a time, in-process; some start the CLI or an echo server."""

"""One module per CLI command; each wires the real parts and runs."""

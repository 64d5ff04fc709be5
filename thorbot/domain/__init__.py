"""Pure domain code: no I/O, no clock reads, imports only the standard library and pydantic."""

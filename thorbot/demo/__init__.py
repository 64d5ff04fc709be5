"""`thorbot demo`: the whole product against the simulated fleet, in a terminal or a real workspace."""

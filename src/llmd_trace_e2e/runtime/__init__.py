"""How the harness runs things: processes, ports, waits, paths, errors, diagnoses."""

"""The kind rehearsal (make rehearse): the kind platform's bring-up, waits, diagnostics and
teardown against a real control plane whose nodes kwok simulates (run.py)."""

"""`local down` on a state file an older harness wrote: it still stops what the file names and
clears the file (before, it refused to read it and said to run `local down`: a loop)."""
from __future__ import annotations

import json
import subprocess
import sys

from llmd_trace_e2e.platforms.local.stack import down
from llmd_trace_e2e.platforms.local.state import process_started, read_stop_list


def test_down_reads_an_old_state_file_and_stops_its_processes(tmp_path):
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], start_new_session=True)
    try:
        scratch = tmp_path / "scratch"
        scratch.mkdir()
        ref = {"name": "server", "pid": sleeper.pid, "started": process_started(sleeper.pid), "port": None, "log": ""}
        path = tmp_path / "stack.json"
        path.write_text(json.dumps({"version": 1, "server": ref, "components": [], "private_dirs": [str(scratch)],
                                    "an_old_field": True}))
        assert read_stop_list(path).server.pid == sleeper.pid, "positive control: the old file is readable enough"
        cleaned = down(path)
        assert sleeper.wait(timeout=30) is not None, "the old stack's server was not stopped"
        assert not path.exists() and not scratch.exists(), cleaned
    finally:
        if sleeper.poll() is None:
            sleeper.kill()


def test_a_state_file_naming_jaeger_query_url_is_refused_in_one_line_and_still_stopped(tmp_path):
    """Version 3 named the query URL `jaeger_query_url`; version 4 says `trace_query_url`."""
    import pytest

    from llmd_trace_e2e.platforms.local.state import STATE_VERSION, StackState, read_state
    from llmd_trace_e2e.runtime.errors import ConfigError

    ref = {"name": "server", "pid": 1, "started": 1.0, "port": None, "log": ""}
    path = tmp_path / "stack.json"
    path.write_text(json.dumps({"version": 3, "server": ref, "jaeger_query_url": "http://127.0.0.1:1",
                                "components": [ref]}))
    assert "trace_query_url" in StackState.__dataclass_fields__ and STATE_VERSION == 4, "positive control: the new name"
    with pytest.raises(ConfigError, match=r"version 3, expected 4\): run `llmd-trace-e2e local down`") as refused:
        read_state(path)
    assert "\n" not in str(refused.value), str(refused.value)
    assert [c.name for c in read_stop_list(path).components] == ["server"], "local down still reads what to stop"

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

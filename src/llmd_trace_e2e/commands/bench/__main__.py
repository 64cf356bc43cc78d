"""`python -m llmd_trace_e2e.commands.bench`, as `llmd-trace-e2e bench`."""
import sys

from llmd_trace_e2e.runtime.procs import terminate_on_sigterm
from llmd_trace_e2e.commands.bench.cli import bench_main

terminate_on_sigterm()
sys.exit(bench_main(sys.argv[1:]))

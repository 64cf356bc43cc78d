"""`python -m llmd_trace_e2e.bench`, as `llmd-trace-e2e bench`."""
import sys

from ..procs import terminate_on_sigterm
from .cli import bench_main

terminate_on_sigterm()
sys.exit(bench_main(sys.argv[1:]))

"""The local stack left running for a developer: `llmd-trace-e2e local up|status|down`.

`up` forks a detached server (`python -m llmd_trace_e2e.platforms.local.stack serve ...`, its own session)
that runs the same LocalPlatform start as the suite, writes the state file
(<artifacts>/local/stack.json, local/state.py) once every component is ready, and then waits:
for SIGTERM (`down`), or for requests on its control endpoint (127.0.0.1, a free port): values
to apply (the variants of an attached suite: LocalPlatform.apply restarts only what they change)
and its diagnosis. `down` signals the server and waits for its teardown, then removes anything
a killed server left: process groups, the control plane's credentials folder, vLLM's scratch.
"""
from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable

import psutil

from llmd_trace_e2e.runtime.diagnose import consult
from llmd_trace_e2e.deployment.components import parse_component
from llmd_trace_e2e.runtime.errors import ConfigError, HarnessError, StartupError
from llmd_trace_e2e.platforms.options import (
    ARTIFACTS, COLLECTOR_CONFIG, COMPONENT, LOCAL, PROFILE, RUN, TIMEOUT, TRACE_BACKEND, VALUES, RunOptions, add_options)
from llmd_trace_e2e.runtime.ports import is_listening
from llmd_trace_e2e.runtime.procs import log_tail, terminate_on_sigterm
from llmd_trace_e2e.runtime.waits import Pending, wait_for
from llmd_trace_e2e.platforms.local.state import (
    ProcessRef, StackState, component_ports, process_started, read_state, read_stop_list, running_state, stale_error,
    state_path)

UP_TIMEOUT_S = 600.0  # the platform's own waits (vLLM's 300 s the longest) fail first
DOWN_TIMEOUT_S = 90.0  # vLLM's 10 s grace, the rest, and a margin
LEFTOVER_GRACE_S = 5.0  # a process group the teardown SIGKILLed takes a moment to be gone
APPLY_TIMEOUT_S = 600.0  # a variant that restarts vLLM waits for it (Timeouts.vllm_ready_s)


# --- the server ------------------------------------------------------------------------------------

@dataclass
class Job:
    kind: str  # "values" or "diagnosis"
    payload: Any = None
    done: threading.Event = field(default_factory=threading.Event)
    status: int = 500
    answer: dict = field(default_factory=dict)


class Control:
    """The server's control endpoint. Its threads only queue jobs: the main thread runs them,
    because a component must be started by a thread that lives as long as it does (a child's
    PR_SET_PDEATHSIG fires when the thread that started it exits)."""

    def __init__(self):
        self.jobs: queue.Queue[Job] = queue.Queue()
        control = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/health":
                    return self._answer(200, {"ok": True})
                if self.path == "/diagnosis":
                    return self._answer(*control.submit(Job("diagnosis")))
                self._answer(404, {"error": f"no such endpoint {self.path}"})

            def do_POST(self):
                if self.path != "/values":
                    return self._answer(404, {"error": f"no such endpoint {self.path}"})
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self._answer(*control.submit(Job("values", json.loads(body or b"{}"))))

            def _answer(self, status: int, doc: dict):
                data = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # the server's log is for the stack, not for each poll
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, name="stack-control", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def submit(self, job: Job) -> tuple[int, dict]:
        self.jobs.put(job)
        if not job.done.wait(APPLY_TIMEOUT_S):
            return 504, {"error": f"the stack's server did not finish the {job.kind} request within {APPLY_TIMEOUT_S:g}s"}
        return job.status, job.answer

    def __enter__(self) -> "Control":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def run_job(platform, job: Job) -> None:
    try:
        if job.kind == "values":
            platform.apply(job.payload)
            job.answer = {"values": platform.values}
        else:
            job.answer = {"findings": [asdict(f) for f in consult(platform.diagnosis())]}
        job.status = 200
    except HarnessError as err:
        job.status, job.answer = 500, {"error": str(err)}
    except Exception as exc:  # noqa: BLE001 - the caller gets the error; the stack stays up
        job.status, job.answer = 500, {"error": f"{type(exc).__name__}: {exc}"}


def describe(platform, control: Control, options: RunOptions, ready_after_s: float) -> StackState:
    ports = component_ports(platform)
    components = [ProcessRef(p.name, p.pid, process_started(p.pid) or 0.0, ports.get(p.name), str(p.log_path))
                  for p in platform.supervisor.processes if p.pid is not None]
    private = [str(d) for d in (platform.control_plane and platform.control_plane.dir, platform.vllm_scratch) if d]
    return StackState(
        server=ProcessRef("server", os.getpid(), process_started(os.getpid()) or 0.0, None,
                          str(server_log(options.artifacts))),
        run_dir=str(platform.artifacts), profile=platform.profile.name,
        collector_config=str(options.collector_config.resolve()) if options.collector_config else None,
        started_at=platform.started_at.astimezone(timezone.utc).isoformat(), ready_after_s=round(ready_after_s, 1),
        gateway_url=platform.gateway_url, trace_backend=platform.trace_backend_name, trace_query_url=platform.traces.base_url,
        collector_otlp_grpc=platform.collector.otlp_grpc_endpoint,
        collector_otlp_http=platform.collector.otlp_http_endpoint,
        collector_telemetry_url=platform.collector.telemetry_url, tap_file=str(platform.collector.tap_file),
        control_url=control.url,
        baseline=dict(platform.baseline), values=dict(platform.values), private_dirs=private, components=components,
        absent=dict(platform.profile.absent), shown_versions=dict(platform.profile.versions),
        brought_parts={part: [run.project, run.version, run.source] for part, run in platform.profile.run.items()
                       if part in platform.binaries.brought()})


def serve(options: RunOptions, path: Path) -> int:
    from llmd_trace_e2e.platforms.local.platform import LocalPlatform

    terminate_on_sigterm()
    t0 = time.monotonic()
    print(f"starting the local stack (artifacts {options.artifacts})", flush=True)
    try:
        with LocalPlatform.running(options) as platform, Control() as control:
            ready_s = time.monotonic() - t0
            describe(platform, control, options, ready_s).write(path)
            print(f"ready after {ready_s:.1f} s; timings: {platform.timings}", flush=True)
            try:
                while True:
                    try:
                        job = control.jobs.get(timeout=1.0)
                    except queue.Empty:
                        continue
                    print(f"control: {job.kind}", flush=True)
                    try:
                        run_job(platform, job)
                        describe(platform, control, options, ready_s).write(path)
                    finally:  # answered once the state file shows the change
                        job.done.set()
            finally:
                print("stopping the local stack", flush=True)
                state = read_state(path)
                if state is not None and state.server.pid == os.getpid():
                    path.unlink(missing_ok=True)
    except HarnessError as err:
        print(f"error: {err}", flush=True)
        return 2
    return 0


# --- up, status, down ----------------------------------------------------------------------------------

def server_log(artifacts: Path) -> Path:
    return Path(artifacts).resolve() / "local" / "stack-server.log"


def server_argv(options: RunOptions, path: Path) -> list[str]:
    argv = [sys.executable, "-m", "llmd_trace_e2e.platforms.local.stack", "serve", "--state", str(path),
            ARTIFACTS.flag, str(Path(options.artifacts).resolve()), TRACE_BACKEND.flag, options.trace_backend]
    if options.profile:
        argv += [PROFILE.flag, options.profile]
    for values in options.values_files:
        argv += [VALUES.flag, str(Path(values).resolve())]
    if options.collector_config:
        argv += [COLLECTOR_CONFIG.flag, str(Path(options.collector_config).resolve())]
    for timeout in options.timeouts:
        argv += [TIMEOUT.flag, timeout]
    for component in options.components:  # checked by `up` before: PATH made absolute for the server
        argv += [COMPONENT.flag, parse_component(component).absolute().spec()]
    return argv


def refuse_existing(path: Path) -> None:
    state = read_state(path)
    if state is None:
        return
    if state.server.alive():
        raise ConfigError(f"a local stack is already running for this artifacts folder (server pid {state.server.pid}, "
                          f"gateway {state.gateway_url}): use it, or stop it with `llmd-trace-e2e local down` first")
    raise stale_error(state, path)


def up(options: RunOptions, timeout_s: float = UP_TIMEOUT_S) -> StackState:
    """Start the stack's server and wait until it is ready; on any interruption, stop it."""
    from llmd_trace_e2e.platforms.local.platform import LocalPlatform

    path = state_path(options.artifacts)
    refuse_existing(path)
    LocalPlatform.check_options(options)  # bad input fails here, in a second, before anything starts
    log = server_log(options.artifacts)
    log.parent.mkdir(parents=True, exist_ok=True)
    server: subprocess.Popen | None = None

    def ready():
        code = server.poll()
        if code is not None:
            raise StartupError("local stack", f"its server exited with code {code}", str(log), log_tail(log))
        state = read_state(path)
        return state if state is not None and state.server.pid == server.pid else \
            Pending(f"starting; last line of its log: {log_tail(log, 1) or '(empty)'}")

    try:
        with open(log, "ab") as out:
            server = subprocess.Popen(server_argv(options, path), stdin=subprocess.DEVNULL, stdout=out,
                                      stderr=subprocess.STDOUT, start_new_session=True)
        return wait_for("the local stack to be ready", ready, timeout_s, max_interval_s=0.5)
    except BaseException:  # Ctrl-C, SIGTERM, a failed start: the server tears down what it started
        if server is not None:
            stop_server(server.pid, process_started(server.pid))
            server.wait(5)
        raise


def stop_server(pid: int, started: float | None, timeout_s: float = DOWN_TIMEOUT_S) -> None:
    """SIGTERM the server (its teardown stops every component); SIGKILL when it does not finish."""
    if started is None or process_started(pid) != started:
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    while process_started(pid) == started and time.monotonic() < deadline:
        time.sleep(0.2)
    if process_started(pid) == started:
        os.kill(pid, signal.SIGKILL)


def group_members(ref: ProcessRef) -> list[psutil.Process]:
    """Live processes in the component's process group that started after it (its own children:
    a reused pid cannot match that)."""
    found = []
    for proc in psutil.process_iter():
        try:
            if os.getpgid(proc.pid) == ref.pid and proc.create_time() >= ref.started - 0.01 \
                    and proc.status() != psutil.STATUS_ZOMBIE:
                found.append(proc)
        except (psutil.Error, OSError):
            continue
    return found


def leftovers(components: list[ProcessRef], grace_s: float = LEFTOVER_GRACE_S) -> list[tuple[str, psutil.Process]]:
    """Component processes still alive after the server's teardown (once those already killed
    have had `grace_s` to die)."""
    deadline = time.monotonic() + grace_s
    while True:
        left = [(ref.name, proc) for ref in components for proc in group_members(ref)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.2)


def down(path: Path) -> list[str]:
    """Stop the stack of this state file; returns what was left behind and removed."""
    state = read_stop_list(path)
    if state is None:
        path.unlink(missing_ok=True)
        return []
    stop_server(state.server.pid, state.server.started if state.server.alive() else None)
    cleaned = []
    for name, proc in leftovers(state.components):
        cleaned.append(f"killed leftover {name} process {proc.pid}")
        try:
            proc.kill()
        except psutil.Error:
            pass
    for folder in map(Path, state.private_dirs):
        if folder.exists():
            cleaned.append(f"removed {folder}")
            shutil.rmtree(folder, ignore_errors=True)
    path.unlink(missing_ok=True)
    return cleaned


def check_components(state: StackState) -> list[tuple[str, str]]:
    """(component, "ok" or what is wrong), the server first."""
    rows = [("server", "ok" if state.server.alive() else f"not running (pid {state.server.pid})")]
    for ref in state.components:
        if not ref.alive():
            rows.append((ref.name, f"not running (pid {ref.pid}; log: {ref.log})"))
        elif ref.port is not None and not is_listening(ref.port):
            rows.append((ref.name, f"running (pid {ref.pid}) but port {ref.port} does not answer (log: {ref.log})"))
        else:
            rows.append((ref.name, f"ok (pid {ref.pid}" + (f", port {ref.port})" if ref.port else ")")))
    return rows


# --- the command line ------------------------------------------------------------------------------------

def _print_state(state: StackState, path: Path) -> None:
    for key, value in state.summary() + [("state file", str(path))]:
        print(f"  {key:<20} {value}")


def _options(args: argparse.Namespace) -> RunOptions:
    return RunOptions.read(lambda dest: getattr(args, dest, None))


def _up(args) -> int:
    t0 = time.monotonic()
    state = up(_options(args))
    path = state_path(args.artifacts)
    print(f"local stack ready after {time.monotonic() - t0:.1f} s (server pid {state.server.pid})")
    _print_state(state, path)
    hint = "" if args.artifacts == Path("artifacts") else f" --artifacts {args.artifacts}"
    print(f"run the suite against it: pytest e2e --platform local --attach{hint}")
    print(f"stop it: llmd-trace-e2e local down{hint}")
    return 0


def _status(args) -> int:
    path = state_path(args.artifacts)
    state = running_state(path)
    print(f"local stack up since {state.started_at} (ready after {state.ready_after_s:g} s)")
    _print_state(state, path)
    rows = check_components(state)
    for name, verdict in rows:
        print(f"  {name:<20} {verdict}")
    down_ = [name for name, verdict in rows if not verdict.startswith("ok")]
    if down_:
        print(f"down: {', '.join(down_)} (restart the stack: llmd-trace-e2e local down, then local up)", file=sys.stderr)
        return 1
    return 0


def _down(args) -> int:
    path = state_path(args.artifacts)
    if not path.exists():
        print(f"no local stack to stop ({path} does not exist)")
        return 0
    for line in down(path):
        print(line)
    print("local stack stopped")
    return 0


def _serve(args) -> int:
    return serve(_options(args), args.state)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="llmd-trace-e2e local",
                                     description="a local stack that stays up between runs")
    sub = parser.add_subparsers(dest="action", required=True)
    commands: dict[str, tuple[str, Callable]] = {
        "up": ("start the stack in the background and print its addresses", _up),
        "status": ("print the addresses and check each component; non-zero when one is down", _status),
        "down": ("stop everything the stack started", _down),
        "serve": ("(internal) the stack's server, started by `up`", _serve),
    }
    for name, (text, func) in commands.items():
        cmd = sub.add_parser(name, help=text)
        add_options(cmd.add_argument, (*RUN, *LOCAL) if name in ("up", "serve") else (ARTIFACTS,))
        if name == "serve":
            cmd.add_argument("--state", type=Path, required=True)
        cmd.set_defaults(func=func)
    return parser


def local_main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(local_main(sys.argv[1:]))

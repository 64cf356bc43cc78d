"""`kind up` and `kind down`: execute the plan step by step, and own what gets created.

The cluster's lifecycle (create, `kind load`, delete) goes through pytest-kind's KindCluster
(cluster.py); helm, helmfile, docker and `kind export kubeconfig` run as plain commands.
A cluster this run created is deleted again when set-up fails half-way or is interrupted,
unless --keep-cluster; diagnostics are collected first. A reused cluster is left standing.
"""
from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import requests

from llmd_trace_e2e.runtime.errors import HarnessError
from llmd_trace_e2e.runtime.waits import wait_for
from llmd_trace_e2e.platforms.kind import diagnostics
from llmd_trace_e2e.platforms.kind.cluster import CommandFailed, HarnessKindCluster
from llmd_trace_e2e.platforms.kind.kube import Kube, http_ready
from llmd_trace_e2e.platforms.kind.options import KindOptions
from llmd_trace_e2e.platforms.kind.ownership import remove_installed
from llmd_trace_e2e.platforms.kind.plan import Apply, Command, Plan, Wait, build_plan
from llmd_trace_e2e.platforms.kind.preflight import (
    Host, PreflightResult, cluster_state, find_tools, run_preflight)

Log = Callable[[str], None]


@dataclass
class KindDeployment:
    """What `deploy` left running on a kind cluster: where to reach it, and how to gather its diagnostics."""

    plan: Plan
    tools: dict[str, str]
    created_cluster: bool

    @property
    def endpoints(self) -> dict:
        return self.plan.endpoints

    @property
    def kubeconfig(self) -> Path:
        return self.plan.options.kubeconfig_path

    def collect_diagnostics(self, dest: Path) -> Path:
        return diagnostics.collect(self.plan, dest, self.tools)


def _log_name(number: int, argv: tuple[str, ...]) -> str:
    words = "-".join(re.sub(r"[^a-z0-9]+", "", a.lower()) for a in argv[:3])
    return f"{number:02d}-{words}.log"


def run_command(step: Command, tools: dict[str, str], timeout_s: float, log_path: Path) -> None:
    """The tool resolved to its binary, the environment inherited, output kept in the run's logs."""
    argv = [tools.get(step.argv[0], step.argv[0])]
    argv += [tools.get(a[1:-1], a) if re.fullmatch(r"\{\w+\}", a) else a for a in step.argv[1:]]
    log_path.parent.mkdir(parents=True, exist_ok=True)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, env=dict(os.environ))
    except subprocess.TimeoutExpired as exc:
        log_path.write_text(f"$ {' '.join(argv)}\n{exc.stdout or ''}{exc.stderr or ''}")
        raise CommandFailed(f"{step.title}: `{' '.join(step.argv[:4])} ...` still running after {timeout_s:g}s "
                            f"(log: {log_path})") from None
    log_path.write_text(f"$ {' '.join(argv)}\n--- stdout\n{proc.stdout}\n--- stderr\n{proc.stderr}")
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:]) or proc.stdout.strip()[-1500:]
        raise CommandFailed(f"{step.title}: `{' '.join(step.argv[:4])} ...` exited {proc.returncode}: {tail} "
                            f"(log: {log_path})")


def _fetch(url: str, path: Path) -> str:
    answer = requests.get(url, timeout=60)
    if answer.status_code != 200:
        raise HarnessError(f"fetching {url} answered HTTP {answer.status_code}: check versions.toml [crds]")
    path.write_text(answer.text)
    return answer.text


def kustomize_build(folder: Path, tools: dict[str, str], timeout_s: float) -> str:
    """`kustomize build` of a plan folder (its remote parts fetched now); the output is kept beside it."""
    argv = [tools.get("kustomize", "kustomize"), "build", str(folder)]
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout_s, env=dict(os.environ))
    except subprocess.TimeoutExpired:
        raise CommandFailed(f"`kustomize build {folder}` still running after {timeout_s:g}s") from None
    if proc.returncode != 0:
        tail = " ".join(proc.stderr.strip().splitlines()[-5:])
        raise CommandFailed(f"`kustomize build {folder}` exited {proc.returncode}: {tail}")
    folder.with_name(folder.name + "-built.yaml").write_text(proc.stdout)
    return proc.stdout


def _probe(kube: Kube, step: Wait):
    if step.check == "deployments":
        return kube.deployments_ready(step.namespace, step.name, step.release)
    if step.check == "daemonset":
        return kube.daemonset_ready(step.namespace, step.release)
    if step.check == "crds":
        return kube.crds_established(step.names)
    if step.check == "gateway":
        return kube.gateway_programmed(step.namespace, step.name)
    if step.check == "gpus":
        return kube.gpus_allocatable(step.count)
    if step.check == "http":
        return http_ready(step.url, step.expect)
    raise HarnessError(f"unknown wait {step.check!r}")


def _kind_cluster(opts: KindOptions, tools: dict[str, str]) -> HarnessKindCluster:
    return HarnessKindCluster(opts.cluster_name, opts.kubeconfig_path, tools["kind"])


def _run_command_step(step: Command, cluster: HarnessKindCluster | None, tools: dict[str, str],
                      opts: KindOptions, log_path: Path) -> None:
    """Creating the cluster and loading images go through KindCluster; the rest runs as is."""
    if step.argv[:3] == ("kind", "create", "cluster"):
        cluster.create_cluster(Path(step.argv[step.argv.index("--config") + 1]), log_path,
                               opts.timeouts.cluster_create)
    elif step.argv[:3] == ("kind", "load", "docker-image"):
        cluster.load_image(step.argv[-1], log_path, opts.timeouts.command)
    else:
        run_command(step, tools, opts.timeouts.command, log_path)
        if step.argv[:2] == ("kind", "export"):
            os.chmod(opts.kubeconfig_path, 0o600)


def _apply_text(step: Apply) -> str:
    """The step's objects: its rendered file, a URL fetched into it, or (--offline) the CRD files
    of the Go module versions.toml [crds.modules] names, copied into it."""
    if step.module:
        from llmd_trace_e2e.platforms.kind.crd_modules import crd_files, crd_modules
        from llmd_trace_e2e.deployment.profiles import load_versions

        [module] = [m for m in crd_modules(load_versions()) if m.key == step.module]
        text = "\n---\n".join(path.read_text() for path in crd_files(module))
        step.path.write_text(text)
        return text
    return _fetch(step.url, step.path) if step.url else step.path.read_text()


def open_forwards(plan: Plan) -> None:
    """An existing cluster's endpoints: a port-forward per Service through the kubeconfig, once;
    the plan's {NAME} URLs become the local ones."""
    if plan.forwards is not None or plan.endpoints.get("reach") != "port-forward":
        return
    from llmd_trace_e2e.platforms.kind.reach import PortForwards, Target

    plan.forwards = PortForwards(plan.options.kubeconfig_path, plan.options.kube_context)
    for name, (namespace, service, port) in plan.endpoints["forwards"].items():
        plan.endpoints[name] = f"http://127.0.0.1:{plan.forwards.forward(Target(namespace, service, port))}"


def close_forwards(plan: Plan) -> None:
    if plan.forwards is not None:
        plan.forwards.close()
        plan.forwards = None


def _resolved(plan: Plan, step: Wait) -> Wait:
    if step.check != "http" or "{" not in (step.url or ""):
        return step
    open_forwards(plan)
    url = step.url
    for name, value in plan.endpoints.items():
        if isinstance(value, str):
            url = url.replace("{%s}" % name, value)
    return dataclasses.replace(step, url=url)


def needs_a_container(step) -> bool:
    """The first step that only a running container can pass: an HTTP answer through a port."""
    return isinstance(step, Wait) and step.check == "http"


def _release(step: Command) -> tuple[str, str] | None:
    if step.argv[:3] == ("helm", "upgrade", "--install"):
        return step.argv[step.argv.index("--namespace") + 1], step.argv[3]
    return None


def execute(plan: Plan, pre: PreflightResult, log: Log, stop_before: Callable[[object], bool] | None = None) -> bool:
    """Run every step; return whether this run created the cluster. Raises on the first failure
    with `created` recorded on the exception for the caller's teardown. On an existing cluster,
    what each step adds is recorded (ownership.py) for `down`. `stop_before`: a step at which to
    stop (the kind rehearsal stops before the first one that needs a container to answer)."""
    opts = plan.options
    created = False
    kube: Kube | None = None
    recorder = None
    cluster = _kind_cluster(opts, pre.tools) if "kind" in pre.tools else None
    try:
        if opts.use_existing_cluster:
            from llmd_trace_e2e.platforms.kind.ownership import Recorder

            kube = Kube(opts.kubeconfig_path, opts.kube_context)
            recorder = Recorder(opts, kube)
        for number, step in enumerate(plan.steps, 1):
            if isinstance(step, Command) and step.only_if:
                exists = pre.cluster_state != "absent"
                if (step.only_if == "cluster-absent") == exists:
                    continue
            if stop_before and stop_before(step):
                log(f"[kind] {number}/{len(plan.steps)} {step.title}: not run; stopping here, before the first "
                    "step that needs a container to answer")
                plan.stopped_before = step
                return created
            log(f"[kind] {number}/{len(plan.steps)} {step.title}")
            started = time.monotonic()
            if recorder and isinstance(step, Command):
                recorder.before_step(release=_release(step))
            if isinstance(step, Command):
                if step.only_if == "cluster-absent":
                    created = True  # owned from the first attempt on: a half-made cluster is ours to delete
                _run_command_step(step, cluster, pre.tools, opts, opts.run_dir / "logs" / _log_name(number, step.argv))
            elif isinstance(step, Apply):
                kube = kube or Kube(opts.kubeconfig_path, opts.kube_context)
                text = kustomize_build(step.path, pre.tools, opts.timeouts.command) if step.kustomize \
                    else _apply_text(step)
                kube.apply_text(text, str(step.path), recorder.before_apply if recorder else None)
            else:
                if step.check != "http":
                    kube = kube or Kube(opts.kubeconfig_path, opts.kube_context)
                wait_for(step.title, _probe(kube, _resolved(plan, step)), getattr(opts.timeouts, step.timeout),
                         max_interval_s=5.0)
            if recorder and not isinstance(step, Wait):
                recorder.after_step()
            log(f"[kind]    done in {time.monotonic() - started:.1f}s")
    except BaseException as exc:
        if recorder:
            try:
                recorder.after_step()  # what a failed step left is removed too
            except Exception:  # noqa: BLE001 - never hides the failure itself
                pass
        exc.created_cluster = created  # type: ignore[attr-defined]
        raise
    return created


def write_files(plan: Plan) -> None:
    for path, text in plan.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def up(opts: KindOptions, log: Log = print, host: Host | None = None,
       stop_before: Callable[[object], bool] | None = None) -> KindDeployment:
    plan = build_plan(opts)
    log(f"[kind] profile {plan.profile.name}, cluster {opts.cluster_name}, "
        f"{'GPU' if opts.gpu else 'CPU'}{' P/D' if opts.pd else ''}")
    for what, version in plan.profile.versions.items():
        log(f"[kind]   {what}: {version}")
    return bring_up(plan, log, host, stop_before)


def bring_up(plan: Plan, log: Log = print, host: Host | None = None,
             stop_before: Callable[[object], bool] | None = None) -> KindDeployment:
    """Preflight, then every step; on a failure, diagnostics, then the teardown of what this run made."""
    opts = plan.options
    pre = run_preflight(plan, host)
    write_files(plan)
    try:
        created = execute(plan, pre, log, stop_before)
    except BaseException as exc:
        close_forwards(plan)
        created = getattr(exc, "created_cluster", False)
        dest = opts.run_dir / "diagnostics"
        log(f"[kind] set-up failed ({type(exc).__name__}): collecting diagnostics into {dest}")
        try:
            diagnostics.collect(plan, dest, pre.tools)
        except Exception as diag_exc:
            log(f"[kind] diagnostics incomplete: {diag_exc}")
        if created and not opts.keep_cluster:
            log(f"[kind] deleting cluster {opts.cluster_name} (pass --keep-cluster to keep it for debugging)")
            try:
                _kind_cluster(opts, pre.tools).delete_cluster(opts.run_dir / "logs" / "teardown-delete-cluster.log",
                                                              opts.timeouts.command)
            except HarnessError as delete_exc:  # never hides the failure that brought us here
                log(f"[kind] deleting the cluster failed too: {delete_exc}")
        elif opts.use_existing_cluster and not opts.keep_cluster:
            log("[kind] removing what this run installed (pass --keep-cluster to keep it for debugging)")
            try:
                remove_installed(opts, pre.tools["helm"], log)
            except Exception as remove_exc:  # noqa: BLE001 - never hides the failure that brought us here
                log(f"[kind] removing what the run installed failed too: {remove_exc}")
        raise
    if plan.stopped_before is not None:
        return KindDeployment(plan, pre.tools, created)
    platform_file = opts.run_dir / "platform.json"
    platform_file.write_text(json.dumps(plan.endpoints, indent=2) + "\n")
    log(f"[kind] ready: gateway {plan.endpoints['gateway_url']}, Jaeger {plan.endpoints['jaeger_query_url']} "
        f"(details: {platform_file})")
    return KindDeployment(plan, pre.tools, created)


def down(opts: KindOptions, log: Log = print, host: Host | None = None) -> None:
    """Delete the harness's cluster of this name (refuses anyone else's); on an existing cluster,
    remove exactly what the run installed (ownership.py), nothing else."""
    host = host or Host()
    if opts.use_existing_cluster:
        log("[kind] --use-existing-cluster: removing what the run installed; the cluster stays")
        remove_installed(opts, find_tools(["helm"], host)["helm"], log)
        return
    kind = find_tools(["kind"], host)["kind"]
    if cluster_state(host, kind, opts.cluster_name) == "absent":
        log(f"[kind] no cluster {opts.cluster_name}: nothing to delete")
        return
    log(f"[kind] deleting cluster {opts.cluster_name}")
    _kind_cluster(opts, {"kind": kind}).delete_cluster(opts.run_dir / "logs" / "down-delete-cluster.log",
                                                       opts.timeouts.command)
    opts.kubeconfig_path.unlink(missing_ok=True)

"""The kind platform as the e2e suite sees it (the Platform protocol): a cluster brought up by
`runner.up`, the gateway and Jaeger reached through the cluster's 127.0.0.1 port mappings."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Mapping

import yaml

from llmd_trace_e2e.deployment.collector_config import load_collector_config, repo_collector_config
from llmd_trace_e2e.runtime.diagnose import Diagnosis
from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.traces.backends import query_client
from llmd_trace_e2e.platforms.base import SharedPlatformParts
from llmd_trace_e2e.platforms.options import RunOptions
from llmd_trace_e2e.deployment.traceability import check_traceable
from llmd_trace_e2e.deployment.values import deep_merge, tracing_values
from llmd_trace_e2e.platforms.kind import manifests, runner, valuesfiles
from llmd_trace_e2e.platforms.kind.diagnostics import ClusterDiagnosis
from llmd_trace_e2e.platforms.kind.options import KindOptions, Timeouts
from llmd_trace_e2e.platforms.kind.plan import Command
from llmd_trace_e2e.platforms.kind.pods import ContainerView, container_views, list_pods
from llmd_trace_e2e.platforms.kind.preflight import Host, find_tools


def kind_options(options: RunOptions) -> KindOptions:
    """The kind options given (each KIND declaration's dest is a KindOptions field), and the run's own."""
    given = {**options.kind, "chart_dirs": chart_dirs(tuple(options.kind.get("chart_dirs", ())))}
    return KindOptions(**given, profile=options.profile or KindOptions.profile, values_files=options.values_files,
                       collector_config=options.collector_config, artifacts_dir=options.artifacts,
                       timeouts=Timeouts().with_overrides(options.timeouts))


def user_values(opts: KindOptions, profile) -> dict[str, Any]:
    """The --values files merged, each chart's part and the harness's own."""
    merged: dict[str, Any] = {}
    for uv in (valuesfiles.load_user_values(p, profile) for p in opts.values_files):
        merged = deep_merge(merged, {**uv.epp, **uv.modelservice, **uv.harness})
    return merged


def run_values(plan, user_values: Mapping[str, Any]) -> dict[str, Any]:
    """Every chart's merged values as the plan installs them (its vLLM container included), so
    the harness predicts what the pods really run; a --helmfile run has only the tracing block."""
    return dict(plan.values) or deep_merge(deep_merge(
        tracing_values(plan.profile, "modelservice"), tracing_values(plan.profile, "epp")), user_values)


def chart_dirs(items: tuple[str, ...]) -> tuple[tuple[str, Path], ...]:
    """--chart-dir NAME=DIR, each checked: one line naming the fix when it is wrong."""
    out = []
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise ConfigError(f"bad --chart-dir {item!r}: use NAME=DIR (e.g. llm-d-modelservice=./charts/llm-d-modelservice)")
        if not (Path(folder) / "Chart.yaml").is_file():
            raise ConfigError(f"--chart-dir {item}: no Chart.yaml in {folder}; give the chart's own folder")
        out.append((name, Path(folder).resolve()))
    return tuple(out)


class KindE2EPlatform(SharedPlatformParts):
    name = "kind"
    timings: Mapping[str, float] = {}  # the runner logs each step's time; the suite has no per-component figure

    def __init__(self, deployed: runner.KindDeployment, opts: KindOptions, user_values: Mapping[str, Any]):
        self.deployed, self.opts = deployed, opts
        self.profile = deployed.plan.profile
        endpoints = deployed.endpoints  # an existing cluster's: port-forwards the runner opened
        self.gateway_url = endpoints["gateway_url"]
        self.model = endpoints["model"]
        self.traces = query_client(endpoints["jaeger_query_url"], manifests.TRACE_BACKEND)
        self.collector_otlp_grpc = endpoints["collector_otlp_grpc"]
        self.baseline = run_values(deployed.plan, user_values)
        self.values = dict(self.baseline)
        self.started_at = datetime.now(timezone.utc)
        self.artifacts = opts.run_dir
        if opts.collector_config:
            self.collector_config = load_collector_config(opts.collector_config)
        elif "observability" in self.profile.kustomize:  # the recipe's own config, as deployed
            from llmd_trace_e2e.platforms.kind.kustomize_plan import RECIPE_DIR, recipe_collector_config

            self.collector_config = recipe_collector_config(opts.rendered_dir / f"{RECIPE_DIR}-built.yaml")
        else:
            self.collector_config = repo_collector_config()
        self._overlay: Mapping[str, Any] = {}

    def containers(self) -> list[ContainerView]:
        """Every container of the run's namespace as the API server has it now."""
        endpoints = self.deployed.endpoints
        return container_views(list_pods(self.deployed.kubeconfig, endpoints.get("context"), endpoints["namespace"]))

    def diagnosis(self) -> Diagnosis:
        """Pods not running or not ready, containers that restarted (their previous run's last log
        lines), warning events since the run began, in every namespace the run installs into."""
        return ClusterDiagnosis.of(self.deployed.plan, since=self.started_at)

    def _installs(self) -> list[Command]:
        releases = {release for _, release in self.deployed.plan.releases}
        return [s for s in self.deployed.plan.steps if isinstance(s, Command)
                and s.argv[:3] == ("helm", "upgrade", "--install") and s.argv[3] in releases]

    def _upgrade(self, overlay: Mapping[str, Any]) -> None:
        """Re-run each chart's install with the overlay's part for that chart, and wait."""
        epp_part = {k: v for k, v in overlay.items() if k in valuesfiles.EPP_TOP_LEVEL}
        ms_part = {k: v for k, v in overlay.items()
                   if k not in valuesfiles.EPP_TOP_LEVEL | valuesfiles.HARNESS_TOP_LEVEL}
        tools = find_tools(["helm"] + (["kustomize"] if self.profile.kustomize_modelserver else []), Host())
        if self.profile.kustomize_modelserver:
            self._rebuild_model_server(ms_part, tools)
        for step in self._installs():
            part = epp_part if step.argv[3] == valuesfiles.EPP_RELEASE else ms_part
            argv = list(step.argv)
            if part:
                path = self.opts.rendered_dir / f"variant-{step.argv[3]}.yaml"
                path.write_text(yaml.safe_dump(part, sort_keys=False))
                argv += ["-f", str(path)]
            argv += ["--wait", "--timeout", f"{int(self.opts.timeouts.model_server_ready)}s"]
            runner.run_command(Command(f"variant: {step.argv[3]}", tuple(argv)), tools,
                               self.opts.timeouts.model_server_ready + 60, self.opts.run_dir / "logs" / f"variant-{step.argv[3]}.log")

    def _rebuild_model_server(self, overlay: Mapping[str, Any], tools: dict[str, str]) -> None:
        """A kustomize model server takes a variant as the values patch after llm-d's component,
        rebuilt over the same base and component; then its rollout is waited for."""
        from llmd_trace_e2e.platforms.kind import kustomize_plan
        from llmd_trace_e2e.platforms.kind.kube import Kube
        from llmd_trace_e2e.runtime.waits import wait_for
        from llmd_trace_e2e.deployment.values import lookup

        path = self.profile.values_schema["modelservice"].path
        block = deep_merge(lookup(self.baseline, path) or {}, lookup(overlay, path) or {})
        folder = kustomize_plan.variant_folder(self.deployed.plan, block)
        kube = Kube(self.opts.kubeconfig_path, self.opts.kube_context)
        kube.apply_text(runner.kustomize_build(folder, tools, self.opts.timeouts.command), str(folder))
        wait_for("the model server's variant rolled out", kube.deployments_ready(
            self.deployed.endpoints["namespace"], kustomize_plan.DECODE_NAME), self.opts.timeouts.model_server_ready)

    def apply_variant(self, overlay: Mapping[str, Any], on_purpose: str = "") -> None:
        check_traceable(deep_merge(self.baseline, overlay), self.profile, on_purpose)
        self._upgrade(overlay)
        self._overlay, self.values = overlay, deep_merge(self.baseline, overlay)

    def reset(self) -> None:
        if self._overlay:
            self._upgrade({})
            self._overlay, self.values = {}, dict(self.baseline)

    @staticmethod
    def check_options(options) -> None:
        """The run's own values, refused in one line when the suite could check nothing with them."""
        if options.trace_backend != manifests.TRACE_BACKEND:
            raise ConfigError(f"the kind platform deploys {manifests.TRACE_BACKEND} as its trace backend: "
                              f"drop --trace-backend {options.trace_backend}, or run it on the local platform")
        opts = kind_options(options)
        plan = runner.build_plan(opts)
        check_traceable(run_values(plan, user_values(opts, plan.profile)), plan.profile)

    @classmethod
    @contextmanager
    def running(cls, options) -> Iterator["KindE2EPlatform"]:
        opts = kind_options(options)
        user_values_ = user_values(opts, runner.build_plan(opts).profile)
        deployed = runner.up(opts)
        failed = False
        try:
            yield cls(deployed, opts, user_values_)
        except BaseException:
            failed = True
            raise
        finally:
            runner.close_forwards(deployed.plan)
            if failed:
                deployed.collect_diagnostics(opts.run_dir / "diagnostics")
            # the cluster this run created goes; on an existing cluster, what the run installed
            if not opts.keep_cluster and (deployed.created_cluster or opts.use_existing_cluster):
                runner.down(opts)

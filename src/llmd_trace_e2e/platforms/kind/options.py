"""What a kind run was asked to do, and every timeout it may spend, by name."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.platforms.options import DEFAULT_CLUSTER_NAME, with_overrides

NAMESPACE = "llm-d"
MONITORING_NAMESPACE = "monitoring"
HARNESS_LABEL = "llmd-trace-e2e.llm-d.ai/harness"
GPU_NODE_LABEL = "llmd-trace-e2e.llm-d.ai/gpu-node"
FIELD_MANAGER = "llmd-trace-e2e"


@dataclass(frozen=True)
class Timeouts:
    """Seconds, on a monotonic clock. Override one with --wait-timeout NAME=SECONDS."""

    cluster_create: float = 300
    crds_established: float = 120
    jaeger_ready: float = 300
    collector_ready: float = 300
    istiod_ready: float = 300
    gateway_programmed: float = 300
    device_plugin_ready: float = 300
    gpu_allocatable: float = 300
    epp_ready: float = 300
    # Image pull (the vLLM images are several GB), the init containers, then vLLM's start.
    model_server_ready: float = 1500
    model_served: float = 300
    command: float = 900  # any one kind/helm/docker command

    def with_overrides(self, overrides: list[str]) -> "Timeouts":
        return with_overrides(self, overrides)


@dataclass(frozen=True)
class KindOptions:
    """What a kind run was asked to do. The fields set by a command-line option are those of the
    options' KIND declarations (platforms/options.py), by the same name; their defaults match."""

    profile: str = "kustomize-guide"
    gpu: bool = False
    pd: bool = False  # prefill/decode disaggregation (GPU only)
    values_files: tuple[Path, ...] = ()
    collector_config: Path | None = None  # default: the repo's config/collector/guide.yaml
    helmfile: Path | None = None
    pool: str | None = None  # the InferencePool a --helmfile deploys
    cluster_name: str = DEFAULT_CLUSTER_NAME
    keep_cluster: bool = False
    use_existing_cluster: bool = False
    kubeconfig: Path | None = None  # with --use-existing-cluster
    context: str | None = None
    load_images: tuple[str, ...] = ()
    offline: bool = False  # CRDs from their Go modules, charts from chart_dirs or a Go module: no download
    chart_dirs: tuple[tuple[str, Path], ...] = ()  # (chart name, its folder), installed instead of the repository's
    artifacts_dir: Path = Path("artifacts")
    timeouts: Timeouts = field(default_factory=Timeouts)

    @property
    def run_dir(self) -> Path:
        return self.artifacts_dir / "kind" / self.cluster_name

    @property
    def rendered_dir(self) -> Path:
        return self.run_dir / "rendered"

    @property
    def kubeconfig_path(self) -> Path:
        """The kubeconfig the run uses: the user's file for an existing cluster, else one of its own."""
        if self.use_existing_cluster and self.kubeconfig:
            return self.kubeconfig
        return self.run_dir / "kubeconfig"

    @property
    def kube_context(self) -> str | None:
        if self.use_existing_cluster:
            return self.context
        return f"kind-{self.cluster_name}"

    def check(self) -> None:
        """Combinations that cannot work, refused before anything is rendered."""
        if self.pd and not self.gpu:
            raise ConfigError("--pd needs --gpu: prefill/decode runs two vLLM servers with a GPU each")
        if self.use_existing_cluster and not (self.kubeconfig or self.context):
            raise ConfigError("--use-existing-cluster needs --kubeconfig PATH and/or --context NAME "
                              "(the harness never falls back to your current context)")
        if (self.kubeconfig or self.context) and not self.use_existing_cluster:
            raise ConfigError("--kubeconfig/--context only apply with --use-existing-cluster")
        if self.helmfile and not self.pool:
            raise ConfigError("--helmfile needs --pool NAME: the InferencePool the helmfile creates, for the HTTPRoute")
        if not self.cluster_name or not all(c.isalnum() or c == "-" for c in self.cluster_name):
            raise ConfigError(f"bad --cluster-name {self.cluster_name!r}: use letters, digits and '-'")

"""Every option of a run, declared once: pytest (src/pytest_llmd_trace/plugin.py), `llmd-trace-e2e kind` and
`llmd-trace-e2e local` add them from here, and RunOptions reads them back the same way. (`--platform`
is declared with the registry of platforms it chooses from: platforms/choose.py.)"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.traces.backends import BACKENDS, DEFAULT_BACKEND


@dataclass(frozen=True)
class Option:
    flag: str
    help: str
    kwargs: dict[str, Any] = field(default_factory=dict)
    name: str = ""  # the field that keeps its value, where that is not the flag's own name

    @property
    def dest(self) -> str:
        return self.name or self.flag.lstrip("-").replace("-", "_")

    @property
    def default(self) -> Any:
        """Its value when not given (a repeatable option's as a tuple)."""
        value = self.kwargs.get("default", False if self.kwargs.get("action") == "store_true" else None)
        return tuple(value) if isinstance(value, list) else value


DEFAULT_CLUSTER_NAME = "llmd-trace-e2e"
PROFILE = Option("--profile", "version profile from config/profiles.yaml (default: local, or kustomize-guide on kind)",
                 {"default": None})
VALUES = Option("--values", "Helm values file, repeatable, merged like `helm -f` (both platforms; the harness's "
                            "own gateway.tracing too)", {"action": "append", "default": [], "metavar": "FILE", "type": Path})
COLLECTOR_CONFIG = Option("--collector-config", "collector config to test instead of config/collector/guide.yaml",
                          {"default": None, "metavar": "FILE", "type": Path})
ARTIFACTS = Option("--artifacts", "logs, traces and reports go here (default: artifacts)",
                   {"default": Path("artifacts"), "metavar": "DIR", "type": Path})
# (pytest-timeout owns --timeout: the per-test limit)
TIMEOUT = Option("--wait-timeout", "override one of the platform's named waits, in seconds (repeatable)",
                 {"action": "append", "default": [], "metavar": "NAME=SECONDS"})
ATTACH = Option("--attach", "local: run against the stack `llmd-trace-e2e local up` left running (same --artifacts)",
                {"action": "store_true"})
COMPONENT = Option("--component", "local: run this binary as the EPP or the routing proxy (repeatable): "
                                  "epp=PATH[@VERSION] or routing-proxy=PATH[@VERSION]",
                   {"action": "append", "default": [], "metavar": "ROLE=PATH[@VERSION]"})
TRACE_BACKEND = Option("--trace-backend", "the trace backend the collector exports to and the suite queries "
                                        "(traces/backends.py)", {"choices": tuple(BACKENDS), "default": DEFAULT_BACKEND})
# What every entry point that starts a platform takes.
RUN = (PROFILE, VALUES, COLLECTOR_CONFIG, ARTIFACTS, TIMEOUT, TRACE_BACKEND)
LOCAL = (COMPONENT,)  # what only the local platform's entry points take

# The kind platform's own options: each dest is a field of KindOptions (kind/options.py), which
# kind/platform.py's kind_options fills from them by name.
KIND = (
    Option("--gpu", "GPU nodes (NVIDIA) and a small real model", {"action": "store_true"}),
    Option("--pd", "prefill/decode disaggregation (needs --gpu)", {"action": "store_true"}),
    Option("--cluster-name", "kind cluster to create or reuse", {"default": DEFAULT_CLUSTER_NAME}),
    Option("--keep-cluster", "leave the cluster running after the run, also when set-up fails", {"action": "store_true"}),
    Option("--use-existing-cluster", "deploy into the cluster of --kubeconfig/--context instead of creating one",
           {"action": "store_true"}),
    Option("--kubeconfig", "with --use-existing-cluster", {"default": None, "type": Path}),
    Option("--context", "with --use-existing-cluster", {"default": None}),
    Option("--load-image", "`kind load` a locally built image into the nodes (repeatable)",
           {"action": "append", "default": [], "metavar": "IMAGE"}, name="load_images"),
    Option("--offline", "air-gapped: CRDs from their Go modules, charts from --chart-dir or a Go module that "
                        "serves them (GAIE's inferencepool); a chart that cannot be had is refused at plan time",
           {"action": "store_true"}),
    Option("--chart-dir", "install chart NAME from folder DIR instead of its repository (repeatable)",
           {"action": "append", "default": [], "metavar": "NAME=DIR"}, name="chart_dirs"),
    Option("--helmfile", "deploy llm-d from a guide's helmfile, tracing values layered on top",
           {"default": None, "type": Path}),
    Option("--pool", "the InferencePool a --helmfile deploys (the HTTPRoute's backend)", {"default": None}),
)


def add_options(add: Callable[..., Any], options: Iterable[Option], **overrides: dict[str, Any]) -> None:
    """`add` is argparse's add_argument or a pytest group's addoption (they take the same keywords);
    `overrides` changes an option's keywords by dest for one entry point (a CLI's own default)."""
    for option in options:
        add(option.flag, help=option.help, dest=option.dest, **{**option.kwargs, **overrides.get(option.dest, {})})


@dataclass(frozen=True)
class RunOptions:
    platform: str = "local"
    profile: str | None = None
    values_files: tuple[Path, ...] = ()
    collector_config: Path | None = None
    artifacts: Path = Path("artifacts")
    timeouts: tuple[str, ...] = ()  # NAME=SECONDS overrides of the platform's named timeouts
    trace_backend: str = DEFAULT_BACKEND
    attach: bool = False  # local: run against the stack `llmd-trace-e2e local up` left running
    components: tuple[str, ...] = ()  # local: --component ROLE=PATH[@VERSION], as given
    kind: Mapping[str, Any] = field(default_factory=dict)  # the KIND options given, by dest

    @classmethod
    def read(cls, get: Callable[[str], Any]) -> "RunOptions":
        """From pytest's getoption or an argparse namespace (`lambda dest: getattr(args, dest, None)`);
        an option the entry point does not declare takes its default."""
        def value(option: Option, default: Any = None) -> Any:
            found = get(option.dest)
            return default if found is None else found

        kind = {o.dest: (tuple(v) if isinstance(v, list) else v) for o in KIND for v in [value(o, o.default)]}
        return cls(platform=get("platform") or cls.platform, profile=value(PROFILE), values_files=tuple(value(VALUES, [])),
                   collector_config=value(COLLECTOR_CONFIG), artifacts=Path(value(ARTIFACTS, "artifacts")),
                   timeouts=tuple(value(TIMEOUT, [])), trace_backend=value(TRACE_BACKEND, DEFAULT_BACKEND), attach=bool(value(ATTACH, False)),
                   components=tuple(value(COMPONENT, [])), kind=kind)

    @classmethod
    def from_getoption(cls, getoption: Callable[[str], Any]) -> "RunOptions":
        def get(dest: str) -> Any:
            try:
                return getoption(dest)
            except ValueError:  # pytest: an option no plugin declared
                return None
        return cls.read(get)


def with_overrides(timeouts, overrides: Iterable[str]):
    """A copy of a frozen timeouts dataclass with NAME=SECONDS overrides; ConfigError names the known names."""
    names = {f.name for f in dataclasses.fields(timeouts)}
    changes: dict[str, float] = {}
    for item in overrides:
        name, sep, raw = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in names:
            raise ConfigError(f"bad --wait-timeout {item!r}: use NAME=SECONDS with NAME one of {', '.join(sorted(names))}")
        try:
            changes[name] = float(raw)
        except ValueError:
            raise ConfigError(f"bad --wait-timeout {item!r}: {raw!r} is not a number of seconds") from None
    return dataclasses.replace(timeouts, **changes)

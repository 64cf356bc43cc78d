"""Choosing and starting a platform from the run's options (both entry points use this: the
pytest fixture and the CLI)."""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from .platform import Platform


@dataclass(frozen=True)
class RunOptions:
    platform: str = "local"
    profile: str | None = None
    values_files: tuple[Path, ...] = ()
    collector_config: Path | None = None
    artifacts: Path = Path("artifacts")
    attach: bool = False  # local: run against the stack `llmd-trace-e2e local up` left running
    kind: dict = field(default_factory=dict)  # kind-only options, passed through

    @classmethod
    def from_getoption(cls, getoption: Callable[[str], object]) -> "RunOptions":
        kind_keys = ("gpu", "pd", "cluster_name", "keep_cluster", "use_existing_cluster", "kubeconfig",
                     "context", "load_image", "helmfile", "pool")
        return cls(platform=getoption("platform"), profile=getoption("profile"),
                   values_files=tuple(getoption("values")), collector_config=getoption("collector_config"),
                   artifacts=Path(getoption("artifacts")), attach=bool(getoption("attach")),
                   kind={k: getoption(k) for k in kind_keys})


@contextmanager
def start_platform(getoption: Callable[[str], object]) -> Iterator[Platform]:
    options = RunOptions.from_getoption(getoption)
    if options.platform == "local" and options.attach:
        from .local.attached import AttachedPlatform as chosen
    elif options.platform == "local":
        from .local.platform import LocalPlatform as chosen
    else:
        from .kind.platform import KindE2EPlatform as chosen
    with chosen.running(options) as running:
        yield running

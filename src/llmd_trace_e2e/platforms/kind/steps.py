"""The three kinds of step a kind plan is made of: a command, an apply, a wait."""
from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Union


@dataclass(frozen=True)
class Command:
    title: str
    argv: tuple[str, ...]
    only_if: str | None = None  # "cluster-absent" or "cluster-present", decided at run time
    shows: tuple[Path, ...] = ()  # files shown with the command (what a chart install renders)

    def shell(self) -> str:
        return shlex.join(self.argv)


@dataclass(frozen=True)
class Apply:
    title: str
    path: Path  # a rendered file; with `url` or `module`, written to this path at run time; with `kustomize`, a folder
    url: str | None = None
    module: str | None = None  # --offline CRDs: a versions.toml [crds.modules] key, read from its Go module
    kustomize: bool = False  # apply `kustomize build path` (remote parts fetched at run time)
    shows: tuple[Path, ...] = ()  # files shown with the step (its kustomization, the harness's prediction)


@dataclass(frozen=True)
class Wait:
    title: str
    check: str  # deployments | daemonset | crds | gateway | gpus | http
    timeout: str  # a Timeouts field
    namespace: str | None = None
    name: str | None = None  # a Deployment / Gateway name
    release: str | None = None  # all Deployments/DaemonSets of this helm release
    names: tuple[str, ...] = ()  # CRD names
    count: int = 1  # GPUs needed
    url: str | None = None
    expect: str | None = None  # a string the HTTP answer must contain


Step = Union[Command, Apply, Wait]

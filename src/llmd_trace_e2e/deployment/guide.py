"""The tracing guide's sections the suite checks (config/guide-sections.yaml): each e2e test
names one, and summary.md groups its verdicts by them, so the report reads as the guide's checklist."""
from __future__ import annotations

import difflib
from functools import lru_cache
from typing import Mapping

import yaml

from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.runtime.paths import config_dir


@lru_cache(maxsize=1)
def sections() -> Mapping[str, str]:
    """Section title -> the promise it makes, in the guide's order."""
    return dict(yaml.safe_load((config_dir() / "guide-sections.yaml").read_text())["sections"])


def check_section(title: str, where: str) -> str:
    if title in sections():
        return title
    guess = difflib.get_close_matches(title, list(sections()), n=1, cutoff=0.5)
    hint = f"did you mean {guess[0]!r}?" if guess else f"known: {', '.join(sections())}"
    raise ConfigError(f"{where}: guide section {title!r} is not in config/guide-sections.yaml; {hint}")

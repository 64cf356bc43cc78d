"""Each chart install of the kind plan, checked at plan time: the merged values go through the
real chart where it can be had (else the emulation), so values a chart refuses stop the plan
with one line naming the key and the chart version, never a helm failure half-way through a
deploy; and the plan shows what each release will run (helm's manifests, or the emulation's
containers where the chart cannot be had here)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Mapping

from llmd_trace_e2e.deployment.charts import Prediction, predict
from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.deployment.profiles import ChartPin, Profile
from llmd_trace_e2e.platforms.kind import yamlout
from llmd_trace_e2e.platforms.kind.options import NAMESPACE


def post_renderer_args(names: tuple[str, ...]) -> list[str]:
    """helm's --post-renderer running this package's post-render (kind/postrender.py)."""
    if not names:
        return []
    args = ["--post-renderer", sys.executable]
    for arg in ("-m", "llmd_trace_e2e.platforms.kind.postrender", *names):
        args += ["--post-renderer-args", arg]
    return args


def check_flags(prediction: Prediction, profile: Profile) -> None:
    """Each rendered container's flags against what its image's binary takes (where versions.toml
    lists them): an unknown flag makes the binary exit, and its pod never becomes Ready."""
    for c in prediction.containers:
        accepted = profile.image_flags.get(c.role)
        flags = [a[2:].split("=", 1)[0] for a in c.args if a.startswith("--")]
        unknown = [f for f in flags if accepted is not None and f not in accepted]
        if unknown:
            raise ConfigError(f"{prediction.chart} {prediction.version} renders --{unknown[0]} for the {c.role}, which "
                              f"{profile.images[c.role]} does not take: profile {profile.name} needs a post-render "
                              "(kind.post_render in config/profiles.yaml) or another image")


def rendered_file(plan, pin: ChartPin, release: str, values: Mapping[str, Any], post_render: tuple[str, ...] = ()) -> Path:
    """The file the plan shows for one release; raises ChartRefused (one line) for refused values,
    ConfigError for a flag the container's image does not take."""
    prediction = predict(pin.chart, pin.version, values, release=release, namespace=NAMESPACE, post_render=post_render)
    check_flags(prediction, plan.profile)
    post = f", post-rendered: {', '.join(post_render)}" if post_render else ""
    if prediction.source == "helm":
        header = f"# {pin.chart} {pin.version} as helm renders it for release {release}{post}\n"
        return plan.add_file(f"rendered-{release}.yaml", header + yamlout.dump_all(prediction.documents))
    header = (f"# {pin.chart} {pin.version}, release {release}: the emulation's prediction of its traced containers"
              f"{post} (the chart cannot be rendered here: {prediction.why})\n")
    body = {"containers": [{"role": c.role, "name": c.name, "env": [f"{n}={v}" for n, v in c.env], "args": list(c.args)}
                           for c in prediction.containers]}
    return plan.add_file(f"predicted-{release}.yaml", header + yamlout.dump(body))

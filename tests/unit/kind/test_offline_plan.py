"""--offline and --chart-dir (an air-gapped run): the CRD steps read their Go modules instead of
a release URL, a --chart-dir folder replaces the chart's repository, and a chart that cannot be
had is refused at plan time in one line naming the --chart-dir to pass."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.platforms.kind.plan import Apply, Command
from llmd_trace_e2e.platforms.kind.platform import chart_dirs


def _chart(tmp_path, name):
    folder = tmp_path / name
    folder.mkdir()
    (folder / "Chart.yaml").write_text(f"apiVersion: v2\nname: {name}\nversion: 0.0.0\n")
    return folder


def test_a_chart_dir_replaces_the_repository_and_crds_stay_urls_online(make_plan, tmp_path):
    folder = _chart(tmp_path, "llm-d-modelservice")
    plan = make_plan("helmfile-guide", chart_dirs=(("llm-d-modelservice", folder),))
    [ms] = [s for s in plan.steps if isinstance(s, Command) and s.argv[3:4] == ("trace-e2e-ms",)]
    assert ms.argv[4] == str(folder), f"expected the chart folder as helm's chart argument: {ms.argv}"
    crds = [s for s in plan.steps if isinstance(s, Apply) and "CRDs" in s.title]
    assert crds and all(s.url and not s.module for s in crds), crds


def test_offline_refuses_a_chart_it_cannot_have_naming_the_chart_dir(make_plan):
    with pytest.raises(ConfigError, match=r"^--offline: chart base \S+ cannot be had here .*: pass --chart-dir base=DIR$"):
        make_plan("helmfile-guide", offline=True)


def test_offline_crds_come_from_their_go_modules(make_plan, tmp_path):
    dirs = tuple((name, _chart(tmp_path, name)) for name in
                 ("base", "istiod", "inferencepool", "llm-d-modelservice"))
    plan = make_plan("helmfile-guide", offline=True, chart_dirs=dirs)
    crds = [s for s in plan.steps if isinstance(s, Apply) and "CRDs" in s.title]
    assert [s.module for s in crds] == ["gateway_api", "inference_extension"] and not any(s.url for s in crds)
    assert "Go module of versions.toml [crds.modules].gateway_api (--offline)" in plan.render()


@pytest.mark.parametrize("item, message", [
    ("llm-d-modelservice", r"^bad --chart-dir 'llm-d-modelservice': use NAME=DIR"),
    ("x=/nonexistent", r"^--chart-dir x=/nonexistent: no Chart.yaml in /nonexistent"),
])
def test_a_bad_chart_dir_is_one_line_naming_the_fix(item, message):
    with pytest.raises(ConfigError, match=message):
        chart_dirs((item,))

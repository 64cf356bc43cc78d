"""The contract: the harness's picture of the charts against the charts' real `helm template`
output in the golden-renders folder (LLMD_GOLDEN_RENDERS, default ../shared/golden-renders).

Every case folder found there is checked, so a case added there is checked without code changes:
- the emulation's prediction (each traced container's env in order and its args, or helm's
  refusal and reason) equals what the real render hands those containers;
- where the real chart can be had here (the GAIE inferencepool chart from its Go module), the
  harness's own render equals the golden render document for document;
- `llmd-trace-e2e predict` prints the golden render's containers (or exits non-zero with its reason).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from llmd_trace_e2e.deployment import chart_emulation
from llmd_trace_e2e.deployment.chart_render import ChartRefused, containers_of, helm_reason, render_chart
from llmd_trace_e2e.commands.cli import main
from llmd_trace_e2e.runtime.paths import repo_root

from .real_charts import real_chart_or_skip


def golden_root() -> Path:
    return Path(os.environ.get("LLMD_GOLDEN_RENDERS") or repo_root().parent / "shared" / "golden-renders")


@dataclass(frozen=True)
class Case:
    folder: Path
    chart: str
    version: str
    name: str

    @property
    def id(self) -> str:
        return f"{self.chart}@{self.version}/{self.name}"

    @property
    def values(self) -> dict:
        return yaml.safe_load((self.folder / "values.yaml").read_text()) or {}

    @property
    def release_and_namespace(self) -> tuple[str, str]:
        argv = (self.folder / "command.txt").read_text().split()
        return argv[2], argv[argv.index("--namespace") + 1]

    @property
    def refusal(self) -> str | None:
        error = self.folder / "error.txt"
        return helm_reason(error.read_text()) if error.exists() else None

    @property
    def documents(self) -> list[dict]:
        return [d for d in yaml.safe_load_all((self.folder / "rendered.yaml").read_text()) if isinstance(d, dict)]

    def expected_containers(self) -> list[dict]:
        return [c.as_json() for c in containers_of(self.documents)]


def cases() -> list[Case]:
    root = golden_root()
    found = [Case(values.parent, values.parent.parent.parent.name, values.parent.parent.name, values.parent.name)
             for values in sorted(root.glob("*/*/*/values.yaml"))]
    return [c for c in found if (c.folder / "rendered.yaml").exists() or (c.folder / "error.txt").exists()]


CASES = cases()
if not CASES:
    pytestmark = pytest.mark.skip(reason=f"SKIPPED LOUDLY: no golden renders at {golden_root()} (set LLMD_GOLDEN_RENDERS "
                                         "to the folder with <chart>/<version>/<case>/values.yaml): the chart "
                                         "emulation is NOT held against real renders in this run")
CASE_PARAMS = [pytest.param(c, id=c.id) for c in CASES] or [pytest.param(None, id="no-golden-renders")]


def _mismatch(case: Case, source: str, got, want) -> str:
    return (f"{source} differs from the real render of {case.id} ({case.folder}):\n"
            f"  got:      {json.dumps(got)}\n  expected: {json.dumps(want)}")


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_the_emulation_predicts_the_real_render(case):
    release, namespace = case.release_and_namespace
    try:
        got = [c.as_json() for c in chart_emulation.predict(case.chart, case.version, case.values,
                                                            release=release, namespace=namespace)]
    except ChartRefused as refused:
        assert case.refusal is not None, _mismatch(case, "the emulation refuses; the chart", refused.reason,
                                                   case.expected_containers())
        assert refused.reason == case.refusal, _mismatch(case, "the emulation's refusal", refused.reason, case.refusal)
        return
    assert case.refusal is None, _mismatch(case, "the emulation accepts the values; the chart refuses them", got,
                                           case.refusal)
    assert got, f"{case.id}: the emulation renders no traced container (a positive control for the comparison)"
    assert got == case.expected_containers(), _mismatch(case, "the emulation", got, case.expected_containers())


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_the_harness_renders_what_helm_rendered(case):
    real_chart_or_skip(case.chart, case.version, f"the real render of {case.id} (the emulation of it is)")
    release, namespace = case.release_and_namespace
    try:
        documents = render_chart(case.chart, case.version, case.values, release=release, namespace=namespace)
    except ChartRefused as refused:
        assert refused.reason == case.refusal, _mismatch(case, "the harness's render refuses", refused.reason,
                                                         case.refusal)
        return
    assert case.refusal is None, f"{case.id}: the harness's render accepts values the golden render refused"
    assert documents == case.documents, _mismatch(case, "the harness's render", documents, case.documents)


@pytest.mark.parametrize("case", CASE_PARAMS)
def test_predict_prints_the_real_renders_containers(case, tmp_path, capsys):
    release, namespace = case.release_and_namespace
    code = main(["predict", "--chart", f"{case.chart}@{case.version}", "--values", str(case.folder / "values.yaml"),
                 "--release", release, "--namespace", namespace])
    out, err = capsys.readouterr()
    if case.refusal is not None:
        assert code != 0, f"{case.id}: predict exited 0 for values the chart refuses; printed {out}"
        assert case.refusal in err and len(err.strip().splitlines()) == 1, \
            f"{case.id}: predict's refusal should be one line with helm's reason {case.refusal!r}; got {err!r}"
        return
    assert code == 0, f"{case.id}: predict failed: {err}"
    printed = json.loads(out)
    assert printed["source"] in ("helm", "emulation")
    assert printed["containers"] == case.expected_containers(), _mismatch(case, f"predict ({printed['source']})",
                                                                          printed["containers"],
                                                                          case.expected_containers())


def test_a_case_added_to_the_folder_is_checked_without_code_changes(tmp_path, monkeypatch):
    case = tmp_path / "inferencepool" / "v9.9.9" / "new-case"
    case.mkdir(parents=True)
    (case / "values.yaml").write_text("# a new case\n")
    (case / "command.txt").write_text("helm template trace-e2e inferencepool@v9.9.9 --namespace ns --values values.yaml\n")
    (case / "error.txt").write_text("Error: nope\n")
    (tmp_path / "inferencepool" / "v9.9.9" / "half-made").mkdir()  # no values.yaml: not a case
    monkeypatch.setenv("LLMD_GOLDEN_RENDERS", str(tmp_path))
    [found] = cases()
    assert (found.id, found.release_and_namespace, found.refusal) == ("inferencepool@v9.9.9/new-case", ("trace-e2e", "ns"),
                                                                      "nope")

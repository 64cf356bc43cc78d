"""The contract for the kustomize-guide profile's model server: the harness's prediction of what
`kustomize build` yields (spec/kustomize_modelserver.py, shown by `kind --plan`) against the real
kustomize (.bin/kustomize, versions.toml) building llm-d's tracing component over the plan's own
base Deployment, with the run's values as the patch layered after it.

The component is upstream data and is not copied into this repository: the test reads it from
LLMD_UPSTREAM_CURRENT (default ../shared/upstream/llm-d-current, the component at the commit
versions.toml pins), and skips loudly naming that path when it is absent. At run time the plan
fetches the same file from llm-d's repository at that commit.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

from llmd_trace_e2e.platforms.kind import kustomize_plan
from llmd_trace_e2e.platforms.kind.options import KindOptions
from llmd_trace_e2e.platforms.kind.plan import Apply, build_plan
from llmd_trace_e2e.runtime.errors import ToolMissing
from llmd_trace_e2e.runtime.paths import repo_root, tool
from llmd_trace_e2e.deployment import kustomize_modelserver as component

COMPONENT_FILE = "vllm-deployment-tracing-component.yaml"
VARIANTS = {
    "baseline": {},
    "tracing-off": {"tracing": {"enabled": False}},
    "sampler-0": {"tracing": {"sampling": {"samplerArg": "0"}}},
    "sampler-0.1": {"tracing": {"sampling": {"samplerArg": "0.1"}}},
    "renamed-service": {"tracing": {"serviceNames": {"vllmDecode": "vllm-decode-renamed"}}},
    "endpoint": {"tracing": {"otlpEndpoint": "http://my-collector.observability.svc.cluster.local:4317"}},
    "detail-model": {"tracing": {"vllm": {"collectDetailedTraces": "model"}}},
}
NODES = {"cpu": {}, "gpu": {"gpu": True}, "gpu-pd": {"gpu": True, "pd": True}}


def upstream_dir() -> Path:
    return Path(os.environ.get("LLMD_UPSTREAM_CURRENT") or repo_root().parent / "shared" / "upstream" / "llm-d-current")


@pytest.fixture(scope="module")
def kustomize() -> Path:
    try:
        return tool("kustomize")
    except ToolMissing as exc:
        pytest.skip(f"SKIPPED LOUDLY: the kustomize contract needs the real kustomize: {exc}")


@pytest.fixture(scope="module")
def component_file() -> Path:
    path = upstream_dir() / COMPONENT_FILE
    if not path.is_file():
        pytest.skip(f"SKIPPED LOUDLY: llm-d's tracing component is not at {path} (set LLMD_UPSTREAM_CURRENT to the "
                    "folder holding vllm-deployment-tracing-component.yaml): the kustomize contract is not checked")
    return path


def build(kustomize: Path, folder: Path) -> list[dict]:
    proc = subprocess.run([str(kustomize), "build", str(folder)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"kustomize build {folder} failed:\n{proc.stderr}"
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


def plan_with_local_component(tmp_path: Path, component_file: Path, node: dict, values: dict):
    """The plan's model-server files written out, the remote component swapped for the local copy."""
    values_files = ()
    if values:
        path = tmp_path / "values.yaml"
        path.write_text(yaml.safe_dump(values))
        values_files = (path,)
    plan = build_plan(KindOptions(profile="kustomize-guide", artifacts_dir=tmp_path / "art", values_files=values_files,
                                  **node))
    [step] = [s for s in plan.steps if isinstance(s, Apply) and s.kustomize and s.path.name == "modelserver"]
    for path, text in plan.files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    local = step.path / "traced" / "component"  # kustomize takes a relative path only
    local.mkdir()
    (local / "kustomization.yaml").write_text(component_file.read_text())
    traced = step.path / "traced" / "kustomization.yaml"
    doc = yaml.safe_load(traced.read_text())
    [remote] = doc["components"]
    assert remote == plan.profile.kustomize["modelserver"].remote(), remote
    doc["components"] = ["component"]
    traced.write_text(yaml.safe_dump(doc))
    predicted = [d for d in yaml.safe_load_all(plan.files[step.path.parent / "modelserver-predicted.yaml"]) if d]
    return step.path, predicted


def by_name(docs: list[dict]) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in docs}


@pytest.mark.parametrize("node", NODES)
@pytest.mark.parametrize("variant", VARIANTS)
def test_the_prediction_equals_kustomize_build(kustomize, component_file, tmp_path, node, variant):
    folder, predicted = plan_with_local_component(tmp_path, component_file, NODES[node], VARIANTS[variant])
    real = by_name(build(kustomize, folder))
    want = by_name(predicted)
    assert set(real) == set(want), f"kustomize built {sorted(real)}, the harness predicts {sorted(want)}"
    for name, doc in want.items():
        got_c, want_c = (d["spec"]["template"]["spec"]["containers"][0] for d in (real[name], doc))
        assert (got_c.get("args"), got_c.get("env")) == (want_c.get("args"), want_c.get("env")), (
            f"{node}/{variant}: {name}'s first container differs from `kustomize build {folder}`:\n"
            f"  kustomize args {got_c.get('args')}\n  predicted args {want_c.get('args')}\n"
            f"  kustomize env {got_c.get('env')}\n  predicted env {want_c.get('env')}")
        assert real[name] == doc, f"{node}/{variant}: {name} differs from `kustomize build {folder}` beyond its container"


def test_the_component_alone_sets_the_recipes_values(kustomize, component_file, tmp_path):
    """Positive control of what the patches change: the component by itself appends its two args
    and sets the recipe's five env vars with sampler ratio 0.1, exactly as the module encodes it."""
    folder, _ = plan_with_local_component(tmp_path, component_file, {}, {})
    [decode] = build(kustomize, folder / "traced")
    container = decode["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][-2:] == list(component.COMPONENT_ARGS), container["args"]
    env = [(e["name"], e.get("value")) for e in container["env"]]
    assert env[:5] == list(component.COMPONENT_ENV), env
    assert ("OTEL_TRACES_SAMPLER_ARG", "0.1") in env
    assert component.predict_container(
        yaml.safe_load(yaml.safe_dump(by_name(build(kustomize, folder / "base"))[kustomize_plan.DECODE_NAME]))
        ["spec"]["template"]["spec"]["containers"][0]) == container


def test_a_container_the_component_cannot_patch_fails_kustomize_and_the_prediction(kustomize, component_file, tmp_path):
    """The component's `test` ops refuse a first container not named modelserver; so does the prediction."""
    folder, _ = plan_with_local_component(tmp_path, component_file, {}, {})
    base = folder / "base" / "decode.yaml"
    doc = yaml.safe_load(base.read_text())
    doc["spec"]["template"]["spec"]["containers"][0]["name"] = "vllm"
    base.write_text(yaml.safe_dump(doc))
    proc = subprocess.run([str(kustomize), "build", str(folder)], capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "test" in proc.stderr.lower(), proc.stderr
    with pytest.raises(component.KustomizeValuesError, match="first container is 'vllm'"):
        component.predict_container(doc["spec"]["template"]["spec"]["containers"][0])


def test_the_remote_form_the_plan_writes_builds_from_a_git_repository(kustomize, component_file, tmp_path):
    """The plan's `<repo>//<path>?ref=<commit>` (what `kind up` fetches from llm-d's repository),
    with the repository swapped for a local git repository holding the same file at the same path:
    kustomize clones it at the commit and the build equals the harness's prediction."""
    import shutil

    git = shutil.which("git")
    if not git:
        pytest.skip("SKIPPED LOUDLY: git is not on PATH: kustomize fetches remote components with git")
    folder, predicted = plan_with_local_component(tmp_path, component_file, {}, {"tracing": {"sampling": {
        "samplerArg": "0.1"}}})
    plan_source = build_plan(KindOptions(profile="kustomize-guide", artifacts_dir=tmp_path / "x")).profile.kustomize
    source = plan_source["modelserver"]
    repo = tmp_path / "llm-d"
    (repo / source.path).mkdir(parents=True)
    (repo / source.path / "kustomization.yaml").write_text(component_file.read_text())
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t"}
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "the component"]):
        subprocess.run([git, *argv], cwd=repo, env=env, check=True, capture_output=True, timeout=60)
    commit = subprocess.run([git, "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=60).stdout.strip()
    remote = source.remote().replace(source.repo, f"file://{repo}").replace(source.ref, commit)
    assert remote == f"file://{repo}//{source.path}?ref={commit}"
    traced = folder / "traced" / "kustomization.yaml"
    doc = yaml.safe_load(traced.read_text())
    doc["components"] = [remote]
    traced.write_text(yaml.safe_dump(doc))
    real = by_name(build(kustomize, folder))
    assert real == by_name(predicted), "the build through the remote form differs from the prediction"


@pytest.mark.parametrize("node", NODES)
@pytest.mark.parametrize("variant", ["tracing-off", "sampler-0", "renamed-service"])
def test_a_variant_rebuilt_on_the_running_plan_equals_its_prediction(kustomize, component_file, tmp_path, node, variant):
    """What the kind platform applies for the suite's variants (platform.variant): the plan's own
    base and component with the variant's values as the patch after them."""
    from llmd_trace_e2e.deployment.values import deep_merge

    folder, _ = plan_with_local_component(tmp_path, component_file, NODES[node], {})
    plan = build_plan(KindOptions(profile="kustomize-guide", artifacts_dir=tmp_path / "art", **NODES[node]))
    block = deep_merge(plan.values["tracing"], VARIANTS[variant]["tracing"])
    built = by_name(build(kustomize, kustomize_plan.variant_folder(plan, block)))
    decode = yaml.safe_load((folder / "base" / "decode.yaml").read_text())
    want = kustomize_plan.predicted(decode, block, plan.options.pd)
    assert built[kustomize_plan.DECODE_NAME] == want, f"{node}/{variant}: the variant's build differs from its prediction"


def test_the_runner_builds_the_step_and_keeps_the_output(kustomize, component_file, tmp_path):
    """runner.kustomize_build, as `kind up` runs a kustomize step: the real kustomize's output
    (what is applied) equals the prediction, and is kept beside the folder for the record; a
    folder kustomize refuses fails in one line naming it."""
    from llmd_trace_e2e.platforms.kind import runner
    from llmd_trace_e2e.platforms.kind.cluster import CommandFailed

    folder, predicted = plan_with_local_component(tmp_path, component_file, {"gpu": True}, {})
    text = runner.kustomize_build(folder, {"kustomize": str(kustomize)}, 120)
    assert by_name([d for d in yaml.safe_load_all(text) if d]) == by_name(predicted)
    assert (folder.parent / "modelserver-built.yaml").read_text() == text
    (folder / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(CommandFailed) as failed:
        runner.kustomize_build(folder, {"kustomize": str(kustomize)}, 120)
    assert f"kustomize build {folder}" in str(failed.value) and "\n" not in str(failed.value)

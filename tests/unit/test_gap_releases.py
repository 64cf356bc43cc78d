"""Known gaps by release: a gap applies to a run only where the run's release has it. Each fix
that config/profiles.yaml names is checked on both of its sides, with the profiles' own data."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.report.summary import release_facts
from llmd_trace_e2e.deployment.profiles import ProfileError, load_profile
from llmd_trace_e2e.deployment.releases import GapRelease, RunVersion, Status, judge, parse_version

APPLIES, FIXED, UNKNOWN, NOT_CONCERNED = Status.APPLIES, Status.FIXED, Status.UNKNOWN, Status.NOT_CONCERNED


def gap(profile: str, gap_id: str):
    found = load_profile(profile).gap(gap_id)
    assert found is not None, f"profile {profile} lists no gap {gap_id}"
    return found


def status(gap_, part: str, project: str, version: str | None) -> Status:
    return gap_.judge({part: RunVersion(project, version, "test")}).status


@pytest.mark.parametrize("version, expected", [
    ("v0.8.0", APPLIES), ("v0.8.3", APPLIES), ("v0.5.0", APPLIES),  # the guide's llm-d-inference-scheduler
    ("v0.9.0", FIXED), ("v0.9.1", FIXED), ("v0.10.0", FIXED), ("v0.11.0", FIXED),
    (None, UNKNOWN),
])
def test_new_root_trace_in_llm_d_router_ends_with_pr_1514_in_v0_9_0(version, expected):
    assert status(gap("local", "epp-new-root-trace"), "epp", "llm-d-router", version) is expected


@pytest.mark.parametrize("version", ["v1.2.0", "v1.4.0", "v1.5.0", None])
def test_new_root_trace_is_a_permanent_fact_of_gaie(version):
    """GAIE's EPP ended at v1.5.0: every release has the gap, whatever the version, known or not."""
    the_gap = gap("local", "epp-new-root-trace")
    assert status(the_gap, "epp", "gaie", version) is APPLIES
    assert "never fixed there" in the_gap.reason and "v1.5.0" in the_gap.reason


@pytest.mark.parametrize("version, expected", [
    ("v0.9.0", APPLIES), ("v0.10.0", APPLIES),
    ("v0.11.0", UNKNOWN),  # PR 2830 merged after v0.10.0; which release has it is not confirmed
    (None, UNKNOWN),
])
def test_gateway_context_in_llm_d_router_is_known_only_to_v0_10_0(version, expected):
    the_gap = gap("local", "epp-ignores-gateway-context")
    assert status(the_gap, "epp", "llm-d-router", version) is expected
    assert status(the_gap, "epp", "gaie", "v1.5.0") is APPLIES
    assert "release not confirmed" in the_gap.reason


@pytest.mark.parametrize("project, version, expected", [
    ("gaie", "v1.3.0", APPLIES), ("gaie", "v1.4.0", FIXED), ("gaie", "v1.5.0", FIXED),
    ("llm-d-router", "v0.5.0", APPLIES), ("llm-d-router", "v0.5.1", APPLIES), ("llm-d-router", "v0.6.0", FIXED),
    ("llm-d-router", "v0.9.0", FIXED),
])
def test_no_request_spans_ends_with_gaie_v1_4_0_and_llm_d_router_v0_6_0(project, version, expected):
    assert status(gap("helmfile-guide", "epp-no-request-spans"), "epp", project, version) is expected


@pytest.mark.parametrize("version, expected", [("v0.4.5", APPLIES), ("v0.4.6", APPLIES), ("v0.4.7", FIXED),
                                               ("v0.4.12", FIXED)])
def test_proxy_otel_env_comes_with_modelservice_v0_4_7(version, expected):
    """A chart gap is decided by the chart's release, not by the component's."""
    the_gap = gap("helmfile-guide", "modelservice-proxy-no-otel-env")
    assert status(the_gap, "modelservice-chart", "llm-d-modelservice", version) is expected
    assert status(the_gap, "routing-proxy", "llm-d-modelservice", "v0.4.5") is NOT_CONCERNED


@pytest.mark.parametrize("version, expected", [("v0.6.0", FIXED), ("v0.8.0", FIXED), ("v0.9.0", APPLIES),
                                               ("v0.10.0", APPLIES), (None, UNKNOWN)])
def test_no_proxy_tracing_flag_matters_from_pd_sidecar_v0_9_0(version, expected):
    """No recipe renders --tracing; pd-sidecar needs it from v0.9.0 (before, it always traced)."""
    the_gap = gap("kustomize-guide", "pd-recipe-proxy-no-tracing-flag")  # neither llm-d's recipe nor its guide sets it
    assert status(the_gap, "routing-proxy", "llm-d-router", version) is expected
    assert load_profile("kustomize-guide").judge(the_gap.id).status is APPLIES  # pd-sidecar v0.10.0


def test_a_gap_in_another_projects_releases_does_not_concern_the_run():
    """The old routing sidecar's gap says nothing of llm-d-router's pd-sidecar."""
    judgement = gap("helmfile-guide", "routing-sidecar-untraced").judge(
        {"routing-proxy": RunVersion("llm-d-router", "v0.10.0", "test")})
    assert judgement.status is NOT_CONCERNED
    assert "llm-d-routing-sidecar" in judgement.why and "llm-d-router v0.10.0" in judgement.why


def test_a_release_before_since_predates_the_gap():
    releases = (GapRelease(("epp",), "llm-d-router", since="v0.6.0", fixed_in="v0.9.0"),)
    run = lambda v: {"epp": RunVersion("llm-d-router", v, "test")}  # noqa: E731
    assert [judge(releases, run(v)).status for v in ("v0.5.0", "v0.6.0", "v0.8.9", "v0.9.0")] == \
        [FIXED, APPLIES, APPLIES, FIXED]


def test_any_part_with_the_gap_makes_it_apply():
    releases = (GapRelease(("vllm-decode", "vllm-prefill"), "vllm", fixed_in="0.40.0"),)
    run = {"vllm-decode": RunVersion("vllm", "0.40.0", "a"), "vllm-prefill": RunVersion("vllm", "0.32.0", "b")}
    judgement = judge(releases, run)
    assert judgement.status is APPLIES and judgement.parts == ("vllm-prefill",)


@pytest.mark.parametrize("text, number", [("v1.5.0", (1, 5)), ("1.5", (1, 5)), ("0.32.0", (0, 32)),
                                          ("v0.4.12", (0, 4, 12)), ("v0.11.0-rc.1", (0, 11)), ("main", None),
                                          (None, None)])
def test_versions_compare_as_numbers(text, number):
    assert parse_version(text) == number
    assert parse_version("v0.10.0") > parse_version("v0.9.0")


def test_the_local_profile_runs_gaie_v1_5_0_so_its_epp_gaps_apply():
    local = load_profile("local")
    assert local.run["epp"] == RunVersion("gaie", "v1.5.0", "versions.toml [go_tools.epp]")
    assert local.run["vllm-decode"].project == "vllm"
    for gap_id in ("epp-new-root-trace", "epp-ignores-gateway-context"):
        assert local.judge(gap_id).status is APPLIES
    assert local.unknown_versions() == []


def test_a_users_epp_of_known_or_unknown_version_gates_the_same_checks():
    """What `--component epp=PATH@VERSION` does to the local profile."""
    local = load_profile("local")
    fixed = local.with_part("epp", "llm-d-router", "v0.10.0", "--component epp=/bin/epp@v0.10.0")
    assert fixed.judge("epp-new-root-trace").status is FIXED
    assert fixed.judge("epp-ignores-gateway-context").status is APPLIES
    unknown = local.with_part("epp", "llm-d-router", None, "--component epp=/bin/epp")
    assert unknown.judge("epp-new-root-trace").status is UNKNOWN
    assert unknown.unknown_versions() == ["epp"]
    assert local.run["epp"].project == "gaie", "with_part leaves the original profile alone"


def test_the_summary_says_which_version_was_unknown():
    unknown = load_profile("local").with_part("epp", "llm-d-router", None, "--component epp=/bin/epp")
    facts = dict(release_facts(unknown.run, {g.id: g.judge(unknown.run) for g in unknown.gaps}))
    line = facts["version unknown: epp"]
    assert "--component epp=/bin/epp" in line and "epp-new-root-trace" in line and "plain checks" in line
    assert "epp llm-d-router (version unknown)" in facts["releases"]
    assert "epp-new-root-trace" in facts["known gaps"].split("not known whether")[1]


def test_the_kustomize_guide_profile_checks_the_fixed_gap_plainly():
    latest = load_profile("kustomize-guide")
    assert latest.judge("epp-new-root-trace").status is FIXED
    facts = dict(release_facts(latest.run, {g.id: g.judge(latest.run) for g in latest.gaps}))
    assert "has the fix" in latest.judge("epp-new-root-trace").why
    assert "epp-new-root-trace" in facts["known gaps"].split("predates the gap)")[1].split(";")[0]


@pytest.mark.parametrize("entry, message", [
    ("fixed_in: llm-d-router v0.9.0", "write `releases:`"),
    ("releases: [{project: gaie-epp}]", "unknown project 'gaie-epp'"),
    ("releases: [{project: gaie, fixed_in: soon}]", "fixed_in 'soon' is not a version"),
    ("releases: [{project: gaie, never: ended, fixed_in: v1.0.0}]", "takes no fixed_in"),
    ("releases: [{projekt: gaie}]", "needs `project`"),
])
def test_a_gap_without_release_facts_is_refused_in_one_line(tmp_path, entry, message):
    text = load_profile.__globals__["_repo_root"]().joinpath("config", "profiles.yaml").read_text()
    start = text.index("        releases:\n          - {project: gaie, never:")
    end = text.index("\n", text.index("fix: PR 1514}", start))
    (tmp_path / "profiles.yaml").write_text(text[:start] + "        " + entry + text[end:])
    with pytest.raises(ProfileError) as refused:
        load_profile("helmfile-guide", path=tmp_path / "profiles.yaml")
    assert message in str(refused.value) and "epp-new-root-trace" in str(refused.value)
    assert "\n" not in str(refused.value)


def test_every_project_a_pin_names_is_one_the_gaps_know():
    from llmd_trace_e2e.deployment.releases import PROJECTS

    versions = load_profile.__globals__["load_versions"]()
    named = {entry["project"] for table in ("go_tools", "charts", "images")
             for entry in (versions.get(table) or {}).values() if "project" in entry}
    assert named <= set(PROJECTS), f"versions.toml names projects releases.py does not know: {sorted(named - set(PROJECTS))}"
    assert set(versions["projects"]) <= set(PROJECTS)

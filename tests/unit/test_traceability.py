"""Values with which the suite could check nothing (spec/traceability.py), read from the charts'
render: each refused in one line naming the setting and the fix; values that still let the suite
check something are not refused (the positive controls)."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.platforms.local.launches import baseline_values
from llmd_trace_e2e.deployment.profiles import load_profile, profile_names
from llmd_trace_e2e.deployment.traceability import Untraceable, blockers, check_traceable
from llmd_trace_e2e.deployment.values import deep_merge, nest


@pytest.fixture(scope="module")
def profile():
    return load_profile("local")


def with_tracing(profile, charts=("modelservice", "epp"), **block):
    values = baseline_values(profile)
    for chart in charts:
        values = deep_merge(values, nest(profile.values_schema[chart].path, block))
    return values


def lines(values, profile):
    return [b.line() for b in blockers(values, profile)]


def test_the_guides_values_and_the_suites_ratios_are_not_refused(profile):
    assert lines(baseline_values(profile), profile) == []
    assert lines(with_tracing(profile, sampling={"samplerArg": "0.1"}), profile) == []


def test_sampler_ratio_zero_in_both_charts_names_the_epps_ratio(profile):
    [line] = lines(with_tracing(profile, sampling={"samplerArg": "0"}), profile)
    key = f"{profile.values_schema['epp'].path}.sampling.samplerArg"
    assert f"the EPP samples no root trace at sampler ratio 0 ({key}: '0')" in line
    assert f"give {key} a ratio above 0" in line


def test_a_parent_based_ratio_of_zero_on_vllm_alone_still_lets_sampled_parents_through(profile):
    """vLLM follows the sampled traceparent the suite sends: not a reason to refuse."""
    assert lines(with_tracing(profile, ("modelservice",), sampling={"samplerArg": "0"}), profile) == []


def test_a_sampler_that_never_samples_is_refused_on_any_component(profile):
    [line] = lines(with_tracing(profile, ("modelservice",), sampling={"sampler": "always_off"}), profile)
    path = profile.values_schema["modelservice"].path
    assert "vLLM (decode) samples nothing (OTEL_TRACES_SAMPLER=always_off" in line
    assert f"from {path}.sampling.sampler: 'always_off'" in line
    assert f"set {path}.sampling.sampler to parentbased_traceidratio" in line


def test_tracing_off_everywhere_is_refused_but_off_in_one_component_is_not(profile):
    [line] = lines(with_tracing(profile, enabled=False), profile)
    assert line.startswith("tracing is off in every component")
    assert f"set {profile.values_schema['epp'].path}.enabled and {profile.values_schema['modelservice'].path}.enabled " \
           "to true" in line
    assert lines(with_tracing(profile, ("epp",), enabled=False), profile) == []
    assert lines(with_tracing(profile, ("modelservice",), enabled=False), profile) == []


def test_an_epp_exporter_other_than_otlp_is_refused(profile):
    values = deep_merge(baseline_values(profile),
                        {"inferenceExtension": {"env": [{"name": "OTEL_TRACES_EXPORTER", "value": "console"}]}})
    [line] = lines(values, profile)
    assert "the EPP exports its spans to 'console', not OTLP (OTEL_TRACES_EXPORTER=console in inferenceExtension.env)" \
           in line
    assert "set OTEL_TRACES_EXPORTER=otlp" in line
    both = deep_merge(baseline_values(profile),
                      {"inferenceExtension": {"env": [{"name": "OTEL_TRACES_EXPORTER", "value": "console,otlp"}]}})
    assert lines(both, profile) == []


def test_the_refusal_is_one_line_and_a_variant_that_needs_the_setting_says_so(profile):
    values = with_tracing(profile, sampling={"samplerArg": "0"})
    with pytest.raises(Untraceable) as refused:
        check_traceable(values, profile)
    assert "\n" not in str(refused.value)
    assert str(refused.value).startswith("these values leave the suite nothing to check: the EPP samples")
    [found] = check_traceable(values, profile, on_purpose="the sampler-0 variant")
    assert found.component == "epp"


def router_profile():
    """A kind profile whose EPP is llm-d-router's (its chart reads router.tracing.*)."""
    found = [p for p in map(load_profile, profile_names())
             if p.platform == "kind" and p.values_schema["epp"].path == "router.tracing"]
    if not found:
        pytest.skip("no kind profile with llm-d-router's EPP chart in config/profiles.yaml")
    return found[0]


def test_a_kind_profile_reads_its_own_chart_keys():
    router = router_profile()
    values = deep_merge(nest(router.values_schema["epp"].path, {"enabled": True, "sampling": {
        "sampler": "parentbased_traceidratio", "samplerArg": "0"}}),
        nest(router.values_schema["modelservice"].path, {"enabled": True}))
    values = deep_merge(values, {"router": {"modelServers": {"matchLabels": {"app": "vllm"}}}, "decode": {
        "containers": [{"name": "vllm", "image": "vllm/vllm-openai-cpu:x", "modelCommand": "vllmServe"}]}})
    [line] = lines(values, router)
    assert f"({router.values_schema['epp'].path}.sampling.samplerArg: '0')" in line

import pytest

from llmd_trace_e2e.traffic.canaries import (
    CONTROL_CANARIES, HEALTH, NOISE_CANARIES, SCRAPE_CHILDREN, expected_span_names, predicted_leaks)
from llmd_trace_e2e.deployment.collector_config import parse_collector_config, repo_collector_config
from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.deployment.profiles import load_profile, profile_names
from llmd_trace_e2e.traces.patterns import (
    GUIDE_CONDITIONS, GUIDE_PATTERNS, HEALTH_CONDITIONS, SCRAPE_CHILD_CONDITIONS, SpanPattern,
    matching_patterns, parse_all)
from llmd_trace_e2e.traffic.filter_verdict import noise_gap_reason

from .spans import span

GUIDES = repo_collector_config()
RECOMMENDED = repo_collector_config("guide-with-fixes.yaml")


def test_the_repo_config_carries_the_guides_six_conditions_in_order():
    assert GUIDES.filter_conditions() == list(GUIDE_CONDITIONS)


@pytest.mark.parametrize("attrs,name,expected", [
    ({"url.path": "/metrics"}, "scrape", ['url.path == "/metrics"']),
    ({"http.route": "/metrics"}, "scrape", ['http.route == "/metrics"']),
    ({"http.target": "/metrics"}, "scrape", ['http.target == "/metrics"']),
    ({"http.url": "/metrics"}, "scrape", ['http.url == "/metrics"']),
    ({}, "GET /metrics", ['name == "GET /metrics"']),
    ({}, "GET", ['name == "GET"']),
    ({"url.path": "/metrics/extra"}, "GET /metrics/extra", []),
    ({"url.path": "/v1/completions"}, "POST /v1/completions", []),
    ({"http.url": "http://10.0.0.1:8000/metrics"}, "scrape", []),  # the guide's rule is an exact match
])
def test_matching_rules(attrs, name, expected):
    hits = matching_patterns(span("svc", name, "1" * 16, **attrs))
    assert [p.label for p in hits] == expected


def test_unsupported_condition_is_a_clear_error():
    with pytest.raises(ConfigError, match="unsupported filter condition"):
        SpanPattern.parse('attributes["url.path"] != "/metrics" and name == "GET"')
    with pytest.raises(ConfigError, match="bad regular expression"):
        SpanPattern.parse('IsMatch(name, "^GET /metrics(")')


@pytest.mark.parametrize("condition,name,attrs,expected", [
    ('IsMatch(name, "^GET /metrics")', "GET /metrics http send", {}, True),
    ('IsMatch(name, "^GET /metrics")', "POST /v1/completions", {}, False),
    ('IsMatch(attributes["url.path"], "/metrics$")', "scrape", {"url.path": "/x/metrics"}, True),  # unanchored
    ('IsMatch(attributes["url.path"], "/metrics")', "scrape", {}, False),  # absent attribute: no match
    ('attributes["http.route"] == "/health"', "GET /health", {"http.route": "/health"}, True),
])
def test_ismatch_and_equality_as_ottl_evaluates_them(condition, name, attrs, expected):
    assert SpanPattern.parse(condition).matches_shape(name, attrs) is expected


def test_guide_patterns_are_six():
    assert len(GUIDE_PATTERNS) == 6


def test_operator_resource_is_unwrapped_and_bad_configs_are_named():
    wrapped = """
apiVersion: opentelemetry.io/v1beta1
kind: OpenTelemetryCollector
spec:
  config:
    processors: {filter/x: {traces: {span: ['name == "GET"']}}}
    service: {pipelines: {traces: {receivers: [otlp], processors: [filter/x], exporters: [debug]}}}
"""
    assert parse_collector_config(wrapped).filter_conditions() == ['name == "GET"']
    with pytest.raises(ConfigError, match="no traces pipeline"):
        parse_collector_config("service: {pipelines: {metrics: {receivers: [otlp]}}}", "m.yaml")
    with pytest.raises(ConfigError, match="not valid YAML at line"):
        parse_collector_config("receivers: [\n  - :\n bad", "b.yaml")


def test_recommended_is_the_guides_config_plus_the_conditions_that_close_its_gaps():
    assert RECOMMENDED.filter_conditions() == [*GUIDE_CONDITIONS, *SCRAPE_CHILD_CONDITIONS, *HEALTH_CONDITIONS]
    guide, fixed = GUIDES.body, RECOMMENDED.body
    assert {k: v for k, v in fixed.items() if k != "processors"} == {k: v for k, v in guide.items() if k != "processors"}
    assert {k: v for k, v in fixed["processors"].items() if k != "filter/drop-metrics-scraping"} == \
        {k: v for k, v in guide["processors"].items() if k != "filter/drop-metrics-scraping"}


@pytest.mark.parametrize("config", [GUIDES, RECOMMENDED], ids=["guide", "recommended"])
@pytest.mark.parametrize("control", CONTROL_CANARIES, ids=lambda c: c.name)
def test_no_span_of_the_request_path_matches_a_filter_condition(config, control):
    """The guide's `name == "GET"` drops every span of that name: none the suite needs is one."""
    hits = [p.condition for p in config.filter_patterns() if p.matches_shape(control.name, control.attributes)]
    assert not hits, f"{control.shape} would be dropped by {hits} in {config.source}"


def test_each_noise_canary_matches_its_own_condition_alone():
    """So a config lacking any one condition lets exactly that canary through."""
    for canary in NOISE_CANARIES:
        hits = [p.condition for p in RECOMMENDED.filter_patterns() if p.matches_shape(canary.name, canary.attributes)]
        assert hits == [canary.condition], f"{canary.shape}: {hits}"


@pytest.mark.parametrize("group,expected", [(SCRAPE_CHILDREN, SCRAPE_CHILD_CONDITIONS), (HEALTH, HEALTH_CONDITIONS)])
def test_the_guides_conditions_leave_noise_through_and_recommended_drops_it(group, expected):
    canaries = [c for c in NOISE_CANARIES if c.group == group]
    assert [c.condition for c in predicted_leaks(GUIDES.filter_patterns(), canaries)] == list(expected)
    assert predicted_leaks(RECOMMENDED.filter_patterns(), canaries) == []


def test_the_children_gap_follows_the_conditions_not_the_guides_exact_list():
    profile = load_profile("kustomize-guide")
    reason = noise_gap_reason(profile, GUIDES.path_patterns(), SCRAPE_CHILDREN)
    assert "guide-filter-leaks-scrape-children" in reason and 'name == "GET /metrics http send"' in reason
    reordered = parse_all(reversed(GUIDE_CONDITIONS))  # not the guide's list, the same gap
    assert noise_gap_reason(profile, [reordered], SCRAPE_CHILDREN) == reason
    prefix = parse_all([*GUIDE_CONDITIONS, 'IsMatch(name, "^GET /metrics")'])
    assert noise_gap_reason(profile, [prefix], SCRAPE_CHILDREN) is None
    assert noise_gap_reason(profile, [prefix, []], SCRAPE_CHILDREN) is not None  # a second path, unfiltered
    assert noise_gap_reason(profile, RECOMMENDED.path_patterns(), SCRAPE_CHILDREN) is None
    assert noise_gap_reason(profile, None, SCRAPE_CHILDREN) is None  # conditions the harness cannot read


def test_the_health_gap_names_the_conditions_that_would_drop_it():
    reason = noise_gap_reason(load_profile("kustomize-guide"), GUIDES.path_patterns(), HEALTH)
    assert reason.startswith("known gap guide-filter-keeps-health-checks")
    for condition in HEALTH_CONDITIONS:
        assert condition in reason


def test_the_readme_shows_the_real_diff_of_recommended_against_the_guides_config():
    import difflib

    from llmd_trace_e2e.runtime.paths import config_dir, repo_root

    guide = (config_dir() / "collector" / "guide.yaml").read_text().splitlines()
    fixed = (config_dir() / "collector" / "guide-with-fixes.yaml").read_text().splitlines()
    added = [line[1:] for line in difflib.unified_diff(guide, fixed, lineterm="", n=0)
             if line.startswith("+") and not line.startswith("+++") and not line.startswith("+# ")]
    readme = (repo_root() / "README.md").read_text()
    block = readme.split("```diff\n", 1)[1].split("```", 1)[0]
    assert [line[1:] for line in block.splitlines() if line.startswith("+")] == added, \
        "README's diff is stale: paste `diff config/collector/guide.yaml config/collector/guide-with-fixes.yaml`"


@pytest.mark.parametrize("config", [GUIDES, RECOMMENDED], ids=["guide", "recommended"])
@pytest.mark.parametrize("name", profile_names())
def test_no_span_a_profile_expects_matches_a_filter_condition(config, name):
    expected = expected_span_names(load_profile(name))
    assert "llm_request" in expected and "gateway.request" in expected
    hits = {n: [p.condition for p in config.filter_patterns() if p.matches_shape(n, {})] for n in expected}
    assert not {n: c for n, c in hits.items() if c}, f"profile {name}: {hits}"

import pytest

from llmd_trace_e2e.collector_config import parse_collector_config, repo_collector_config
from llmd_trace_e2e.errors import ConfigError
from llmd_trace_e2e.traces.patterns import GUIDE_CONDITIONS, GUIDE_PATTERNS, SpanPattern, matching_patterns

from .spans import span


def test_the_repo_config_carries_the_guides_six_conditions_in_order():
    assert repo_collector_config().filter_conditions() == list(GUIDE_CONDITIONS)


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
        SpanPattern.parse('IsMatch(attributes["url.path"], "/metrics.*")')


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

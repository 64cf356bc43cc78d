"""The noise patterns, read from the collector config's filter conditions.

The guide's filter is a list of OTTL conditions; the harness derives its own matching rules
(and its canary spans) from those same strings, so the config stays the one source of truth.
Understood shapes: `attributes["K"] == "V"`, `name == "V"` (the two the guide uses), and
`IsMatch(name, "RE")` / `IsMatch(attributes["K"], "RE")` (an unanchored search, as OTTL's).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping

from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.traces.model import Span

_FIELD = r'(?:name|attributes\["([^"]+)"\])'
_EQUALS = re.compile(rf'^(?P<field>{_FIELD})\s*==\s*"(?P<value>[^"]*)"$')
_ISMATCH = re.compile(rf'^IsMatch\(\s*(?P<field>{_FIELD})\s*,\s*"(?P<value>[^"]*)"\s*\)$')


@dataclass(frozen=True)
class SpanPattern:
    condition: str  # the OTTL text, as written in the config
    attribute: str | None  # None: the pattern matches the span name
    value: str
    regex: bool = False  # IsMatch: `value` is a regular expression

    @classmethod
    def parse(cls, condition: str) -> "SpanPattern":
        text = condition.strip()
        for shape, regex in ((_EQUALS, False), (_ISMATCH, True)):
            if m := shape.match(text):
                attribute = m.group(2)
                if regex:
                    try:
                        re.compile(m.group("value"))
                    except re.error as exc:
                        raise ConfigError(f"filter condition {condition!r}: bad regular expression ({exc})") from None
                return cls(text, attribute, m.group("value"), regex)
        raise ConfigError(
            f"unsupported filter condition {condition!r}: the harness understands "
            '`attributes["KEY"] == "VALUE"`, `name == "VALUE"` and `IsMatch(name, "REGEX")`'
        )

    def matches_shape(self, name: str, attributes: Mapping[str, object]) -> bool:
        if self.attribute is None:
            field: str | None = name
        else:
            field = None if self.attribute not in attributes else str(attributes[self.attribute])
        if field is None:
            return False
        return re.search(self.value, field) is not None if self.regex else field == self.value

    def matches(self, span: Span) -> bool:
        return self.matches_shape(span.name, span.attributes)

    @property
    def label(self) -> str:
        target = self.attribute or "name"
        return f'{target} =~ "{self.value}"' if self.regex else f'{target} == "{self.value}"'


def parse_all(conditions: Iterable[str]) -> tuple[SpanPattern, ...]:
    return tuple(SpanPattern.parse(c) for c in conditions)


# The guide's six patterns: what "a /metrics span" means for the assertions, whatever config runs.
GUIDE_CONDITIONS = (
    'attributes["url.path"] == "/metrics"',
    'attributes["http.route"] == "/metrics"',
    'attributes["http.target"] == "/metrics"',
    'attributes["http.url"] == "/metrics"',
    'name == "GET /metrics"',
    'name == "GET"',
)
GUIDE_PATTERNS = parse_all(GUIDE_CONDITIONS)

# Noise the suite found beyond the guide's six patterns; config/collector/guide-with-fixes.yaml adds
# exactly these conditions. ASGI auto-instrumentation gives each SERVER span INTERNAL children
# named after it, with no URL attributes.
SCRAPE_CHILD_CONDITIONS = (
    'name == "GET /metrics http send"',
    'name == "GET /metrics http receive"',
)
# Health probes (a kubelet's every few seconds): the guide's six shapes, for /health, and children.
HEALTH_SERVER_CONDITIONS = (
    'attributes["url.path"] == "/health"',
    'attributes["http.route"] == "/health"',
    'attributes["http.target"] == "/health"',
    'attributes["http.url"] == "/health"',
    'name == "GET /health"',
)
HEALTH_CHILD_CONDITIONS = (
    'name == "GET /health http send"',
    'name == "GET /health http receive"',
)
HEALTH_CONDITIONS = HEALTH_SERVER_CONDITIONS + HEALTH_CHILD_CONDITIONS
HEALTH_PATTERNS = parse_all(HEALTH_SERVER_CONDITIONS)


def matching_patterns(span: Span, patterns=GUIDE_PATTERNS) -> list[SpanPattern]:
    return [p for p in patterns if p.matches(span)]

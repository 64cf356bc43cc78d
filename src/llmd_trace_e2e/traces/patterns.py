"""The /metrics-scraping patterns, read from the collector config's filter conditions.

The guide's filter is a list of OTTL conditions; the harness derives its own matching rules
(and its canary spans) from those same strings, so the config stays the one source of truth.
Only the two shapes the guide uses are understood: `attributes["K"] == "V"` and `name == "V"`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ConfigError
from .model import Span

_ATTRIBUTE = re.compile(r'^attributes\["([^"]+)"\]\s*==\s*"([^"]*)"$')
_NAME = re.compile(r'^name\s*==\s*"([^"]*)"$')


@dataclass(frozen=True)
class SpanPattern:
    condition: str  # the OTTL text, as written in the config
    attribute: str | None  # None: the pattern matches the span name
    value: str

    @classmethod
    def parse(cls, condition: str) -> "SpanPattern":
        text = condition.strip()
        if m := _ATTRIBUTE.match(text):
            return cls(text, m.group(1), m.group(2))
        if m := _NAME.match(text):
            return cls(text, None, m.group(1))
        raise ConfigError(
            f"unsupported filter condition {condition!r}: the harness understands "
            '`attributes["KEY"] == "VALUE"` and `name == "VALUE"`'
        )

    def matches(self, span: Span) -> bool:
        if self.attribute is None:
            return span.name == self.value
        return str(span.attributes.get(self.attribute, "")) == self.value

    @property
    def label(self) -> str:
        return f'{self.attribute} == "{self.value}"' if self.attribute else f'name == "{self.value}"'


# The guide's six patterns: what "a /metrics span" means for the assertions, whatever config runs.
GUIDE_CONDITIONS = (
    'attributes["url.path"] == "/metrics"',
    'attributes["http.route"] == "/metrics"',
    'attributes["http.target"] == "/metrics"',
    'attributes["http.url"] == "/metrics"',
    'name == "GET /metrics"',
    'name == "GET"',
)
GUIDE_PATTERNS = tuple(SpanPattern.parse(c) for c in GUIDE_CONDITIONS)


def matching_patterns(span: Span, patterns=GUIDE_PATTERNS) -> list[SpanPattern]:
    return [p for p in patterns if p.matches(span)]

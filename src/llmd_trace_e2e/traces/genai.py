"""vLLM's llm_request against the OpenAI response it served, and against the GenAI semantic
conventions (open-telemetry/semantic-conventions-genai, inference spans)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

from llmd_trace_e2e.traces.assertions import Failure
from llmd_trace_e2e.traces.model import Span

# What the conventions require of an inference span (the model: "conditionally required", when
# the instrumentation knows it, as vLLM does).
REQUIRED = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model")
MODEL_KEYS = ("gen_ai.request.model", "gen_ai.response.model")
OPERATIONS = {"chat": "chat", "completion": "text_completion"}  # gen_ai.operation.name by request kind


def _request_ids(span: Span) -> str:
    return str(span.attributes.get("gen_ai.request.id", ""))


@dataclass(frozen=True)
class MatchesResponse:
    """The llm_request carrying `completion`'s response id says what the response says: token
    counts equal its `usage`, kind SERVER, the served model wherever the span names a model."""

    service: str
    completion: Any  # traffic.Completion
    served_model: str

    @property
    def description(self) -> str:
        return f"{self.service}'s llm_request for response {self.completion.response_id} matches the response"

    def __call__(self, spans: Sequence[Span]) -> list[Failure]:
        done = self.completion
        hits = [s for s in spans if s.service == self.service and s.name == "llm_request" and done.is_request_of(s)]
        if len(hits) != 1:
            return [Failure(self.description, "1 llm_request with that gen_ai.request.id", str(len(hits)))]
        [span] = hits
        usage = done.usage or {}
        wanted = {"gen_ai.usage.prompt_tokens": usage.get("prompt_tokens"),
                  "gen_ai.usage.completion_tokens": usage.get("completion_tokens")}
        failures = [Failure(f"llm_request {key} (the response's usage)", str(value), str(span.attributes.get(key)))
                    for key, value in wanted.items() if span.attributes.get(key) != value]
        rid = _request_ids(span)
        if rid.rsplit("-", 1)[0] != done.response_id and rid != done.response_id:
            failures.append(Failure("llm_request gen_ai.request.id", f"{done.response_id} (or -<choice>)", rid))
        if span.kind != "SERVER":
            failures.append(Failure("llm_request span kind", "SERVER", span.kind))
        for key in MODEL_KEYS:
            if key in span.attributes and span.attributes[key] != self.served_model:
                failures.append(Failure(f"llm_request {key}", self.served_model, str(span.attributes[key])))
        if done.model != self.served_model:
            failures.append(Failure("the response's model (positive control)", self.served_model, str(done.model)))
        return failures


def semconv_gaps(span: Span, kind: str) -> list[Failure]:
    """What the conventions require that `span` (an llm_request of a `kind` request) lacks."""
    failures = [Failure(f"{key} on {span.name}", "set", "absent") for key in REQUIRED if key not in span.attributes]
    operation = span.attributes.get("gen_ai.operation.name", OPERATIONS.get(kind, kind))
    model = span.attributes.get("gen_ai.request.model", "<model>")
    if span.name != f"{operation} {model}":
        failures.append(Failure("span name {gen_ai.operation.name} {gen_ai.request.model}",
                                f"{operation} {model}", span.name))
    return failures

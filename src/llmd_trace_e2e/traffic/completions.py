"""Requests the suite sends: OpenAI completions and chat completions, each carrying a W3C
traceparent whose trace id the caller chose, so every test can find its own spans."""
from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

import requests

from llmd_trace_e2e.runtime.errors import HarnessError


@dataclass(frozen=True)
class TraceParent:
    trace_id: str
    span_id: str
    sampled: bool = True

    @classmethod
    def new(cls, sampled: bool = True) -> "TraceParent":
        return cls(secrets.token_hex(16), secrets.token_hex(8), sampled)

    @property
    def header(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"


@dataclass(frozen=True)
class Completion:
    kind: str  # "completion" or "chat"
    traceparent: TraceParent
    status: int
    response_id: str | None  # the OpenAI response id, which vLLM also puts on its span
    text: str
    started: datetime
    seconds: float
    usage: Mapping[str, int] | None = None  # the response's `usage` (streamed: its last chunk's)
    model: str | None = None  # the model the response names

    def is_request_of(self, span) -> bool:
        """Whether `span` carries this response's id (vLLM appends "-<n>" per choice)."""
        rid, attr = self.response_id, str(span.attributes.get("gen_ai.request.id", ""))
        return bool(rid) and (attr == rid or attr.startswith(rid + "-"))


class RequestFailed(HarnessError):
    def __init__(self, message: str, status: int | None = None, body: str = ""):
        super().__init__(message)
        self.status, self.body = status, body

    def error(self) -> dict:
        """The `error` object of an OpenAI-shaped error body ({} when the body is not one)."""
        try:
            doc = json.loads(self.body)
        except ValueError:
            return {}
        return doc.get("error") or {} if isinstance(doc, dict) else {}


# Called with every Completion `send` returns: how the pytest reporting plugin learns a test's
# traces without the suite telling it. An observer must not raise.
observers: list[Callable[[Completion], None]] = []


def send(base_url: str, model: str, *, chat: bool = False, stream: bool = False,
         traceparent: TraceParent | None = None, propagate: bool = True, max_tokens: int = 8,
         timeout_s: float = 60.0, extra: Mapping[str, Any] | None = None) -> Completion:
    """`propagate=False` sends no traceparent at all (the first hop then makes the sampling
    decision); the returned traceparent is then only a label. `extra` adds fields to the body
    (vLLM's own sampling parameters, such as `ignore_eos`)."""
    tp = traceparent or TraceParent.new()
    path = "/v1/chat/completions" if chat else "/v1/completions"
    body: dict = {"model": model, "max_tokens": max_tokens, "temperature": 0, "stream": stream}
    if chat:
        body["messages"] = [{"role": "user", "content": "Say hello."}]
    else:
        body["prompt"] = "The trace of a request"
    if stream:
        body["stream_options"] = {"include_usage": True}
    body.update(extra or {})
    started, t0 = datetime.now(timezone.utc), time.monotonic()
    url = base_url.rstrip("/") + path
    try:
        resp = requests.post(url, json=body, headers={"traceparent": tp.header} if propagate else {}, timeout=timeout_s, stream=stream)
        payload = _read(resp, stream)
    except requests.Timeout:
        raise RequestFailed(f"{path} (trace {tp.trace_id}) got no answer within {timeout_s:g}s from {base_url}") from None
    except requests.RequestException as exc:
        raise RequestFailed(f"{path} (trace {tp.trace_id}) to {base_url} failed: {exc}") from None
    if resp.status_code != 200:
        raise RequestFailed(f"{path} (trace {tp.trace_id}) answered HTTP {resp.status_code}: {payload['raw'][:800]}",
                            resp.status_code, payload["raw"])
    done = Completion("chat" if chat else "completion", tp, resp.status_code, payload.get("id"),
                      payload.get("text", ""), started, time.monotonic() - t0, payload.get("usage"),
                      payload.get("model"))
    for observe in list(observers):
        observe(done)
    return done


def _read(resp: requests.Response, stream: bool) -> dict:
    if not stream:
        raw = resp.text
        try:
            doc = json.loads(raw)
        except json.JSONDecodeError:
            return {"raw": raw}
        choice = (doc.get("choices") or [{}])[0]
        text = choice.get("text") or (choice.get("message") or {}).get("content") or ""
        return {"raw": raw, "id": doc.get("id"), "text": text, "usage": doc.get("usage"), "model": doc.get("model")}
    chunks, rid, usage, model = [], None, None, None
    for line in resp.iter_lines(decode_unicode=True):
        if not line or not line.startswith("data: ") or line == "data: [DONE]":
            continue
        doc = json.loads(line[6:])
        rid, model = rid or doc.get("id"), model or doc.get("model")
        usage = doc.get("usage") or usage
        choice = (doc.get("choices") or [{}])[0]
        chunks.append(choice.get("text") or (choice.get("delta") or {}).get("content") or "")
    return {"raw": "".join(chunks), "id": rid, "text": "".join(chunks), "usage": usage, "model": model}


def send_and_abandon(base_url: str, model: str, *, after_chunks: int = 3, max_tokens: int = 400,
                     traceparent: TraceParent | None = None, timeout_s: float = 60.0) -> Completion:
    """A streamed completion the client closes after `after_chunks` chunks, long before its end
    (`ignore_eos` keeps the model generating all `max_tokens`). The Completion has what arrived
    until then; `seconds` runs to the close."""
    tp = traceparent or TraceParent.new()
    body = {"model": model, "prompt": "The trace of a request", "max_tokens": max_tokens, "temperature": 0,
            "stream": True, "ignore_eos": True}
    started, t0 = datetime.now(timezone.utc), time.monotonic()
    rid, text, seen = None, [], 0
    try:
        with requests.post(base_url.rstrip("/") + "/v1/completions", json=body, headers={"traceparent": tp.header},
                           timeout=timeout_s, stream=True) as resp:
            if resp.status_code != 200:
                raise RequestFailed(f"/v1/completions (trace {tp.trace_id}) answered HTTP {resp.status_code}: "
                                    f"{resp.text[:800]}", resp.status_code, resp.text)
            for line in resp.iter_lines(decode_unicode=True):
                if not line or not line.startswith("data: ") or line == "data: [DONE]":
                    continue
                doc = json.loads(line[6:])
                rid = rid or doc.get("id")
                text.append(((doc.get("choices") or [{}])[0]).get("text") or "")
                seen += 1
                if seen >= after_chunks:
                    break
    except requests.RequestException as exc:
        raise RequestFailed(f"/v1/completions (trace {tp.trace_id}) to {base_url} failed: {exc}") from None
    done = Completion("completion", tp, 200, rid, "".join(text), started, time.monotonic() - t0, None, model)
    for observe in list(observers):
        observe(done)
    return done

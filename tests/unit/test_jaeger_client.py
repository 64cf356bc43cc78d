"""The Jaeger client against recorded v3 responses, served by a fake Jaeger (a stdlib HTTP
server replaying files) so the query paths, parameters and 404 handling are exercised."""
import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from llmd_trace_e2e.runtime.errors import ConfigError

from llmd_trace_e2e.traces.backends import query_client
from llmd_trace_e2e.traces.jaeger import JaegerClient, JaegerQueryError, spans_from_response
from llmd_trace_e2e.traces.query import TraceQueryError

DATA = Path(__file__).parent.parent / "data"
TRACE_ID = "28a5c2fb67761e8f078a758085a0a9d5"
BROKEN_ID = "e" * 32
NOT_FOUND = json.dumps({"error": {"httpCode": 404, "message": "No traces found"}})


class FakeJaeger(BaseHTTPRequestHandler):
    seen: list = []

    def do_GET(self):
        url = urlparse(self.path)
        FakeJaeger.seen.append((url.path, parse_qs(url.query)))
        recorded = (DATA / "jaeger-v3-trace.json").read_text()
        routes = {
            "/api/v3/services": (200, json.dumps({"services": ["vllm-decode", "llm-d-epp"]})),
            f"/api/v3/traces/{TRACE_ID}": (200, recorded),
            "/api/v3/traces": (200, recorded) if "query.service_name=vllm-decode" in url.query else (404, NOT_FOUND),
            f"/api/v3/traces/{BROKEN_ID}": (500, "boom"),
        }
        status, body = routes.get(url.path, (404, NOT_FOUND))
        self.send_response(status)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def client():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeJaeger)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield JaegerClient(f"http://127.0.0.1:{server.server_address[1]}")
    server.shutdown()


def test_services_sorted(client):
    assert client.services() == ["llm-d-epp", "vllm-decode"]


def test_trace_by_id_and_404_means_none(client):
    spans = client.trace_spans(TRACE_ID)
    assert {s.name for s in spans} == {"gateway.request", "forward_request", "llm_request"}
    assert [s.start_ns for s in spans] == sorted(s.start_ns for s in spans), "a trace's spans come by start"
    assert client.trace_spans("f" * 32) == []
    assert client.raw_trace("f" * 32) is None
    raw_spans = spans_from_response(json.dumps(client.raw_trace(TRACE_ID)))
    assert sorted(raw_spans, key=lambda s: s.start_ns) == spans, "the raw trace is the document the spans were read from"


def test_search_sends_service_and_rfc3339_window(client):
    since = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    spans = client.find_spans("vllm-decode", since, since + timedelta(minutes=5))
    assert len(spans) == 3
    path, query = FakeJaeger.seen[-1]
    assert path == "/api/v3/traces"
    assert query["query.start_time_min"] == ["2026-11-25T12:00:00Z"]
    assert query["query.start_time_max"] == ["2026-11-25T12:05:00Z"]
    assert client.find_spans("nobody", since) == []  # 404: none yet


def test_all_spans_are_each_services_spans_once(client):
    since = datetime.now(timezone.utc) - timedelta(hours=1)
    spans = client.all_spans(since)
    assert len(spans) == 3 and len({(s.trace_id, s.span_id) for s in spans}) == 3, spans


def test_server_error_is_a_query_error_with_the_url(client):
    with pytest.raises(JaegerQueryError, match="answered 500") as err:
        client.trace_spans(BROKEN_ID)
    assert isinstance(err.value, TraceQueryError), "callers above the backend catch TraceQueryError"
    assert client.base_url in str(err.value)


def test_the_backend_registry_builds_the_jaeger_client_and_refuses_an_unknown_name():
    built = query_client("http://127.0.0.1:1")
    assert isinstance(built, JaegerClient) and built.base_url == "http://127.0.0.1:1"
    other = built.another_client()
    assert other is not built and other.base_url == built.base_url
    with pytest.raises(ConfigError, match="no trace backend named 'tempo': use one of jaeger"):
        query_client("http://127.0.0.1:1", "tempo")

"""The Jaeger client against recorded v3 responses, served by a fake Jaeger (a stdlib HTTP
server replaying files) so the query paths, parameters and 404 handling are exercised."""
import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import pytest

from llmd_trace_e2e.traces.jaeger import JaegerClient, JaegerQueryError

DATA = Path(__file__).parent.parent / "data"
TRACE_ID = "28a5c2fb67761e8f078a758085a0a9d5"
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
            "/api/v3/operations": (500, "boom"),
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
    trace = client.trace(TRACE_ID)
    assert trace and {s.name for s in trace.spans} == {"gateway.request", "forward_request", "llm_request"}
    assert client.trace("f" * 32) is None


def test_search_sends_service_and_rfc3339_window(client):
    since = datetime(2026, 11, 25, 12, 0, tzinfo=timezone.utc)
    spans = client.find_spans("vllm-decode", since, since + timedelta(minutes=5))
    assert len(spans) == 3
    path, query = FakeJaeger.seen[-1]
    assert path == "/api/v3/traces"
    assert query["query.start_time_min"] == ["2026-11-25T12:00:00Z"]
    assert query["query.start_time_max"] == ["2026-11-25T12:05:00Z"]
    assert client.find_spans("nobody", since) == []  # 404: none yet


def test_by_attribute_filters_client_side(client):
    since = datetime.now(timezone.utc) - timedelta(hours=1)
    [span] = client.find_by_attribute("vllm-decode", "gen_ai.request.model", "tiny", since)
    assert span.service == "vllm-decode"


def test_server_error_is_a_query_error_with_the_url(client):
    with pytest.raises(JaegerQueryError, match="answered 500"):
        client.operations("x")

"""Gateway stand-in for the local platform: the harness's only stand-in.

In a real llm-d deployment, Envoy (or another Gateway API implementation) receives the
client's HTTP request and asks the EPP where to send it over Envoy's ext_proc gRPC protocol.
No Envoy binary or Kubernetes can run here, so this small program plays that part. Every
other component in a local run (EPP, kube-apiserver, vLLM, collector, Jaeger) is the real program.

It talks to the EPP the way Envoy does with the processing mode the EPP's docs prescribe
(request/response headers SEND, bodies FULL_DUPLEX_STREAMED), on one bidirectional
`envoy.service.ext_proc.v3.ExternalProcessor/Process` stream per HTTP request:

1. request headers (with the `:method`, `:path`, `:authority`, `:scheme` pseudo-headers
   and an `x-request-id` as Envoy adds them), then the request body with end_of_stream;
2. it waits for the EPP's request-headers answer (header mutations: the
   `x-gateway-destination-endpoint` naming the chosen endpoint, the `traceparent` of the
   EPP's span, ...) and its request-body answer (the possibly rewritten body), or for an
   immediate_response, which it passes to the client as is;
3. it forwards the mutated request to the chosen endpoint;
4. it sends the response headers and each response body chunk to the EPP too, as Envoy
   does. The EPP needs these phases: its `gateway.request` span ends only when the stream
   closes, and its response-complete hooks (metrics, request accounting) run on the
   response body's end_of_stream. Unlike Envoy, the client gets the upstream's bytes
   directly (the EPP's body answers are read and dropped); the EPP's response-header
   mutations are applied. Then it half-closes the stream.

Errors are answered in OpenAI's error shape with the failing component named: EPP
unreachable or failing -> 502 (with the gRPC code and details), EPP no answer in time ->
504, model server unreachable -> 502, model server timeout -> 504. A model server is named
by its address, and by the component it is when `--endpoint-name ADDR=NAME` says so.

Run: python -m llmd_trace_e2e.local.gateway --port 0 --epp-address 127.0.0.1:9002
It binds 127.0.0.1 only and prints `listening on http://127.0.0.1:PORT` once ready.
Needs grpcio and xds-protos; nothing else outside the standard library.
"""
from __future__ import annotations

import argparse
import http.client
import json
import queue
import signal
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from envoy.config.core.v3 import base_pb2
from envoy.extensions.filters.http.ext_proc.v3 import processing_mode_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as pb
from envoy.service.ext_proc.v3 import external_processor_pb2_grpc as pb_grpc

DESTINATION_HEADER = "x-gateway-destination-endpoint"
DESTINATION_METADATA_NAMESPACE = "envoy.lb"
BODY_CHUNK = 62_000  # the EPP's own chunk size for bodies it sends back
# Hop-by-hop headers (RFC 9110 7.6.1) are the gateway's own business, never forwarded.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
FULL_DUPLEX = processing_mode_pb2.ProcessingMode.FULL_DUPLEX_STREAMED


class GatewayError(Exception):
    """Ends a request with an error response naming the component that failed."""

    def __init__(self, status: int, component: str, message: str, **detail: str):
        super().__init__(message)
        self.status, self.component, self.detail = status, component, detail

    def body(self) -> bytes:
        error = {"message": str(self), "type": "gateway_error", "code": self.status, "component": self.component}
        error.update(self.detail)
        return json.dumps({"error": error}).encode()


class ExtProcStream:
    """One ext_proc stream: a queue feeds the requests, a thread reads the answers."""

    _CLOSE = object()

    def __init__(self, stub: pb_grpc.ExternalProcessorStub, epp: str, deadline_s: float):
        self.epp = epp
        self._outbox: queue.Queue = queue.Queue()
        self._inbox: queue.Queue = queue.Queue()
        self._call = stub.Process(iter(self._outbox.get, self._CLOSE), timeout=deadline_s)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for answer in self._call:
                self._inbox.put(answer)
            self._inbox.put(None)  # the EPP closed the stream
        except grpc.RpcError as err:
            self._inbox.put(err)

    def send(self, message: pb.ProcessingRequest) -> None:
        self._outbox.put(message)

    def receive(self, timeout_s: float, waiting_for: str) -> pb.ProcessingResponse | None:
        """The next answer, or None once the EPP has closed the stream."""
        try:
            item = self._inbox.get(timeout=timeout_s)
        except queue.Empty:
            raise GatewayError(504, "epp", f"EPP at {self.epp} sent no {waiting_for} answer within {timeout_s:g}s",
                               epp=self.epp) from None
        if isinstance(item, grpc.RpcError):
            self._inbox.put(item)  # later calls see the same error
            code = item.code().name if item.code() else "UNKNOWN"
            raise GatewayError(502, "epp", f"ext_proc call to EPP at {self.epp} failed: {code}: {item.details()}",
                               epp=self.epp, grpc_code=code, grpc_details=str(item.details()))
        if item is None:
            self._inbox.put(None)
        return item

    def close(self, wait_s: float = 5.0) -> None:
        """Half-close (the EPP sees end of stream and ends its span), wait for it to finish."""
        self._outbox.put(self._CLOSE)
        self._reader.join(wait_s)
        if self._reader.is_alive():
            self._call.cancel()


def header_map(headers: list[tuple[str, str]]) -> base_pb2.HeaderMap:
    return base_pb2.HeaderMap(headers=[base_pb2.HeaderValue(key=k, raw_value=v.encode()) for k, v in headers])


def apply_header_mutation(headers: dict[str, list[str]], mutation: pb.HeaderMutation) -> None:
    """Envoy's ext_proc rules: `append` defaults to false; pseudo-headers and host are not touched."""
    for name in mutation.remove_headers:
        if name and not name.startswith(":") and name.lower() != "host":
            headers.pop(name.lower(), None)
    for option in mutation.set_headers:
        name = option.header.key.lower()
        if not name or name.startswith(":") or name == "host":
            continue
        value = option.header.raw_value.decode() if option.header.raw_value else option.header.value
        if option.HasField("append") and option.append.value:
            headers.setdefault(name, []).append(value)
        else:
            headers[name] = [value]


def destination_from(headers: dict[str, list[str]], metadata) -> str | None:
    """The EPP names the endpoint in a header and in dynamic metadata; it may list fallbacks."""
    value = (headers.get(DESTINATION_HEADER) or [""])[0]
    if not value and metadata is not None and DESTINATION_METADATA_NAMESPACE in metadata.fields:
        fields = metadata.fields[DESTINATION_METADATA_NAMESPACE].struct_value.fields
        if DESTINATION_HEADER in fields:
            value = fields[DESTINATION_HEADER].string_value
    value = value.split(",")[0].strip()
    return value or None


class Gateway:
    def __init__(self, epp_address: str, request_timeout_s: float, upstream_timeout_s: float | None = None,
                 endpoint_names: dict[str, str] | None = None):
        self.epp = epp_address
        self.timeout_s = request_timeout_s
        self.upstream_timeout_s = upstream_timeout_s or request_timeout_s
        self.endpoint_names = dict(endpoint_names or {})
        self.channel = grpc.insecure_channel(epp_address)
        self.stub = pb_grpc.ExternalProcessorStub(self.channel)

    def describe(self, destination: str) -> str:
        """'vllm-decode (model server 127.0.0.1:8000, picked by the EPP)' or 'model server 127.0.0.1:8000 (...)'."""
        name = self.endpoint_names.get(destination)
        return f"{name} (model server {destination}, picked by the EPP)" if name else \
            f"model server {destination} (picked by the EPP)"

    def route(self, method: str, path: str, authority: str, client_headers: list[tuple[str, str]], body: bytes):
        """Request phase. Returns (stream, headers, body, destination, traceparent_sets) or raises
        GatewayError; an immediate_response from the EPP comes back as GatewayImmediate.
        traceparent_sets counts the EPP's `traceparent` set_headers: more than one means the
        last one won, as in Envoy (router <= v0.10 re-sends the client's own after its own)."""
        headers: dict[str, list[str]] = {}
        for k, v in client_headers:
            headers.setdefault(k.lower(), []).append(v)
        headers.setdefault("x-request-id", [str(uuid.uuid4())])
        # As Envoy does: Host travels as :authority, hop-by-hop headers not at all.
        pseudo = [(":method", method), (":path", path), (":authority", authority), (":scheme", "http")]
        flat = pseudo + [(k, v) for k, vs in headers.items() if k not in HOP_BY_HOP and k != "host" for v in vs]

        stream = ExtProcStream(self.stub, self.epp, self.timeout_s + 30)
        try:
            stream.send(pb.ProcessingRequest(
                request_headers=pb.HttpHeaders(headers=header_map(flat), end_of_stream=not body),
                protocol_config=pb.ProtocolConfiguration(request_body_mode=FULL_DUPLEX, response_body_mode=FULL_DUPLEX)))
            for start in range(0, len(body), BODY_CHUNK):
                chunk = body[start:start + BODY_CHUNK]
                stream.send(pb.ProcessingRequest(
                    request_body=pb.HttpBody(body=chunk, end_of_stream=start + BODY_CHUNK >= len(body))))

            new_body, got_headers, body_done, metadata, tp_sets = None, False, not body, None, 0
            while not (got_headers and body_done):
                answer = stream.receive(self.timeout_s, "request" if not got_headers else "request body")
                if answer is None:
                    raise GatewayError(502, "epp", f"EPP at {self.epp} closed the ext_proc stream before routing the request",
                                       epp=self.epp)
                kind = answer.WhichOneof("response")
                if kind == "immediate_response":
                    raise GatewayImmediate(stream, answer.immediate_response)
                if answer.HasField("dynamic_metadata"):
                    metadata = answer.dynamic_metadata
                if kind == "request_headers":
                    got_headers = True
                    common = answer.request_headers.response
                    apply_header_mutation(headers, common.header_mutation)
                    tp_sets = sum(o.header.key.lower() == "traceparent" for o in common.header_mutation.set_headers)
                    if common.body_mutation.WhichOneof("mutation") == "body":
                        new_body, body_done = common.body_mutation.body, True
                elif kind == "request_body":
                    mutation = answer.request_body.response.body_mutation
                    which = mutation.WhichOneof("mutation")
                    if which == "streamed_response":
                        new_body = (new_body or b"") + mutation.streamed_response.body
                        body_done = mutation.streamed_response.end_of_stream
                    elif which == "body":
                        new_body, body_done = mutation.body, True
                    elif which == "clear_body":
                        new_body, body_done = b"", True
                    else:
                        body_done = True
            destination = destination_from(headers, metadata)
            if destination is None:
                raise GatewayError(502, "epp", f"EPP at {self.epp} answered without a {DESTINATION_HEADER}", epp=self.epp)
            return stream, headers, body if new_body is None else new_body, destination, tp_sets
        except BaseException:
            stream.close(wait_s=1.0)
            raise


class GatewayImmediate(Exception):
    def __init__(self, stream: ExtProcStream, response: pb.ImmediateResponse):
        super().__init__("immediate response")
        self.stream, self.response = stream, response


def make_handler(gateway: Gateway):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "llmd-trace-e2e-gateway"

        def log_message(self, fmt, *args):  # the one-line request log below replaces this
            pass

        def do_GET(self):
            self.handle_any()

        def do_POST(self):
            self.handle_any()

        def handle_any(self):
            started = time.monotonic()
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            tp_in = self.headers.get("traceparent", "-")
            log = {"endpoint": "-", "tp_out": "-", "status": 0, "sent": False}
            try:
                self.proxy(body, log)
            except GatewayError as err:
                if log["sent"]:  # the status line is out: all that is left is to cut the response short
                    self.close_connection = True
                    print(f"error: {err}", file=sys.stderr, flush=True)
                else:
                    self.send_json(err.status, err.body(), log)
            except (BrokenPipeError, ConnectionResetError):
                log["status"] = log["status"] or 499  # the client went away
            finally:
                ms = (time.monotonic() - started) * 1000
                print(f"{self.command} {self.path} endpoint={log['endpoint']} traceparent_in={tp_in} "
                      f"traceparent_out={log['tp_out']} status={log['status']} {ms:.0f}ms", file=sys.stderr, flush=True)

        def proxy(self, body: bytes, log: dict) -> None:
            authority = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
            try:
                stream, headers, body, destination, tp_sets = gateway.route(
                    self.command, self.path, authority, list(self.headers.items()), body)
            except GatewayImmediate as imm:
                imm.stream.close()
                status = imm.response.status.code or 200
                extra: dict[str, list[str]] = {}
                apply_header_mutation(extra, imm.response.headers)
                payload = imm.response.body if isinstance(imm.response.body, bytes) else imm.response.body.encode()
                self.send_raw(status, extra, payload, log)
                return
            log["endpoint"] = destination
            log["tp_out"] = (headers.get("traceparent") or ["-"])[0] + (f" (set {tp_sets}x by EPP)" if tp_sets > 1 else "")
            try:
                self.forward(stream, destination, headers, body, log)
            finally:
                stream.close()

        def forward(self, stream: ExtProcStream, destination: str, headers: dict[str, list[str]],
                    body: bytes, log: dict) -> None:
            host, _, port = destination.rpartition(":")
            conn = http.client.HTTPConnection(host, int(port), timeout=gateway.upstream_timeout_s)
            who, component = gateway.describe(destination), gateway.endpoint_names.get(destination, "model-server")
            budget_s = gateway.upstream_timeout_s
            too_late = GatewayError(504, component, f"{self.command} {self.path}: {who} did not answer within "
                                    f"{budget_s:g}s", endpoint=destination)
            started = time.monotonic()
            try:
                try:
                    conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
                    conn.putheader("Host", destination)
                    for name, values in headers.items():
                        if name in HOP_BY_HOP or name in ("host", "content-length"):
                            continue
                        for value in values:
                            conn.putheader(name, value)
                    if body or self.command == "POST":
                        conn.putheader("Content-Length", str(len(body)))
                    conn.endheaders(body or None)
                    upstream = conn.getresponse()
                except (socket.timeout, TimeoutError) as err:
                    raise too_late from err
                except OSError as err:
                    raise GatewayError(502, component, f"{self.command} {self.path}: cannot reach {who}: {err}",
                                       endpoint=destination) from err
                # A deadline, not only a socket timeout: a model server busy on every core can keep
                # this process from running until its answer is already there.
                if time.monotonic() - started > budget_s:
                    raise too_late
                self.relay(stream, upstream, who, component, log)
            finally:
                conn.close()

        def relay(self, stream: ExtProcStream, upstream: http.client.HTTPResponse, who: str, component: str,
                  log: dict) -> None:
            out: dict[str, list[str]] = {}
            for k, v in upstream.getheaders():
                out.setdefault(k.lower(), []).append(v)
            mirror = self.response_headers_to_epp(stream, upstream.status, out)
            length = out.get("content-length", [None])[0]
            chunked = length is None
            self.send_response(upstream.status)
            for name, values in out.items():
                if name not in HOP_BY_HOP and name not in ("content-length", "server", "date"):  # ours replace these
                    for value in values:
                        self.send_header(name, value)
            if chunked:
                self.send_header("Transfer-Encoding", "chunked")
            else:
                self.send_header("Content-Length", length)
            self.end_headers()
            log["status"], log["sent"] = upstream.status, True
            while True:
                try:
                    chunk = upstream.read1(65536)
                except (socket.timeout, TimeoutError):
                    raise GatewayError(504, component, f"{who} stalled mid-response for "
                                       f"{gateway.upstream_timeout_s:g}s") from None
                except (http.client.HTTPException, OSError) as err:
                    raise GatewayError(502, component, f"{who} broke off the response: {err!r}") from None
                if not chunk:
                    break
                if mirror:
                    stream.send(pb.ProcessingRequest(response_body=pb.HttpBody(body=chunk, end_of_stream=False)))
                if chunked:
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                else:
                    self.wfile.write(chunk)
                self.wfile.flush()
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            if mirror:
                stream.send(pb.ProcessingRequest(response_body=pb.HttpBody(body=b"", end_of_stream=True)))

        def response_headers_to_epp(self, stream: ExtProcStream, status: int, out: dict[str, list[str]]) -> bool:
            """Response-headers phase; applies the EPP's mutations. False when the EPP skipped response processing."""
            flat = [(":status", str(status))] + [(k, v) for k, vs in out.items() if k not in HOP_BY_HOP for v in vs]
            stream.send(pb.ProcessingRequest(response_headers=pb.HttpHeaders(headers=header_map(flat))))
            while True:
                try:
                    answer = stream.receive(10.0, "response headers")
                except GatewayError as err:  # the request is already routed: log, serve the response anyway
                    print(f"warning: {err}", file=sys.stderr, flush=True)
                    return False
                if answer is None:
                    return False  # the EPP closed the stream after routing (it skips response processing)
                if answer.WhichOneof("response") == "response_headers":
                    apply_header_mutation(out, answer.response_headers.response.header_mutation)
                    return True

        def send_json(self, status: int, payload: bytes, log: dict) -> None:
            self.send_raw(status, {"content-type": ["application/json"]}, payload, log)

        def send_raw(self, status: int, headers: dict[str, list[str]], payload: bytes, log: dict) -> None:
            log["status"], log["sent"] = status, True
            self.send_response(status)
            for name, values in headers.items():
                if name not in HOP_BY_HOP and name != "content-length":
                    for value in values:
                        self.send_header(name, value)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()

    return Handler


class GatewayServer(ThreadingHTTPServer):
    daemon_threads = True  # in-flight requests do not hold up shutdown
    request_queue_size = 128  # concurrency tests open many connections at once


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Gateway stand-in: HTTP in, EPP over ext_proc, forward to the chosen endpoint.")
    parser.add_argument("--port", type=int, required=True, help="port on 127.0.0.1 (0 picks a free one)")
    parser.add_argument("--epp-address", required=True, help="the EPP's ext_proc gRPC address, host:port")
    parser.add_argument("--request-timeout", type=float, default=120.0, metavar="S",
                        help="seconds to wait for the EPP's routing answer and for the model server (default 120)")
    parser.add_argument("--upstream-timeout", type=float, default=None, metavar="S",
                        help="seconds to wait for the model server, if not --request-timeout")
    parser.add_argument("--endpoint-name", action="append", default=[], metavar="HOST:PORT=NAME",
                        help="name the model server at HOST:PORT in error messages (repeatable)")
    args = parser.parse_args(argv)
    names = dict(item.split("=", 1) for item in args.endpoint_name if "=" in item)

    gateway = Gateway(args.epp_address, args.request_timeout, args.upstream_timeout, names)
    server = GatewayServer(("127.0.0.1", args.port), make_handler(gateway))
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    serving.start()
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    gateway.channel.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""A FAKE model server, for fault tests only: it answers OpenAI completions instantly with a
fixed text, serves the vLLM metric names the EPP scrapes, and makes no spans.

It lets a fault test run the real EPP and the real Envoy without starting vLLM (which
takes a minute and most of this machine's two cores). Nothing in the e2e suite uses it: a test
that needs a model server's behaviour uses the real vLLM of the local platform.

Run: python tests/faults/fake_model_server.py --port 0
It binds 127.0.0.1 only and prints `listening on http://127.0.0.1:PORT` once ready.
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

# The metric names GAIE's EPP reads from a vLLM server (queue, running, KV cache, LoRA).
METRICS = """\
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{model_name="fake"} 0
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{model_name="fake"} 0
# TYPE vllm:kv_cache_usage_perc gauge
vllm:kv_cache_usage_perc{model_name="fake"} 0.0
# TYPE vllm:gpu_cache_usage_perc gauge
vllm:gpu_cache_usage_perc{model_name="fake"} 0.0
# TYPE vllm:lora_requests_info gauge
vllm:lora_requests_info{max_lora="1",running_lora_adapters="",waiting_lora_adapters=""} 1
# TYPE vllm:cache_config_info gauge
vllm:cache_config_info{block_size="16",num_gpu_blocks="1000"} 1
"""


def make_handler(delay_s: float):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            print(f"{self.command} {self.path} traceparent={self.headers.get('traceparent', '-')}",
                  file=sys.stderr, flush=True)

        def reply(self, status: int, body: bytes, content_type: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path.startswith("/metrics"):
                self.reply(200, METRICS.encode(), "text/plain; version=0.0.4")
            elif self.path.startswith("/health"):
                self.reply(200, b"")
            else:
                self.reply(404, b'{"error": "not found"}')

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            request = json.loads(self.rfile.read(length) or b"{}")
            time.sleep(delay_s)
            chat = self.path.startswith("/v1/chat/completions")
            choice = {"index": 0, "finish_reason": "length"}
            choice.update({"message": {"role": "assistant", "content": "fake"}} if chat else {"text": "fake"})
            body = {"id": f"fake-{uuid.uuid4().hex}", "object": "chat.completion" if chat else "text_completion",
                    "model": request.get("model", "fake"), "choices": [choice],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}}
            self.reply(200, json.dumps(body).encode())

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="A fake OpenAI-compatible model server for fault tests.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0, metavar="S", help="seconds before each answer")
    args = parser.parse_args(argv)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), make_handler(args.delay))
    server.daemon_threads = True
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True).start()
    print(f"listening on http://127.0.0.1:{server.server_address[1]}", flush=True)
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

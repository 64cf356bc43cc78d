"""The whole trace of one completion, compared as a whole against data: for the run's profile
and each gateway mode, config/expected-traces/<profile>-<mode>.yaml names every span that
reaches the backend (services, span names, kinds, parent relations, counts). A failure shows the
expected tree beside the tree that arrived; after a deliberate upstream change,
`pytest e2e --update-expected-traces` rewrites the file from what arrived (keeping its comment
and its "1+" counts)."""
from __future__ import annotations

from contextlib import ExitStack

import pytest

from llmd_trace_e2e.traffic.canaries import settle
from llmd_trace_e2e.runtime.paths import config_dir
from llmd_trace_e2e.traces.assertions import SpansExist
from llmd_trace_e2e.traces.request import request_spans_in_jaeger
from llmd_trace_e2e.traces.tree import compare, forest, load_expected, write_expected

from checks import LlmRequestOf, expect_spans, send_traced_by_every_hop, service_or_skip

pytestmark = pytest.mark.guide("What Gets Traced")

TRACED = {"gateway": {"tracing": {"enabled": True}}}
MODES = ("transparent", pytest.param("traced", marks=pytest.mark.variant(restarts="gateway")))


def expected_path(platform, mode):
    return config_dir() / "expected-traces" / f"{platform.profile.name}-{mode}.yaml"


@pytest.mark.checks("tree: the whole trace of one completion is config/expected-traces/<profile>-<mode>.yaml")
@pytest.mark.parametrize("mode", MODES)
def test_one_completion_leaves_the_expected_trace_tree(request, platform, mode):
    path = expected_path(platform, mode)
    update = request.config.getoption("update_expected_traces")
    if not path.exists() and not update:
        pytest.skip(f"no expected tree for profile {platform.profile.name}, gateway {mode}: {path} is missing; "
                    "record it from a real run with --update-expected-traces")
    with ExitStack() as stack:
        traced = platform.gateway_service is not None
        if (mode == "traced") != traced:
            if platform.name != "local":
                pytest.skip(f"the run's gateway is {'traced' if traced else 'transparent'}; this case needs "
                            f"it {mode} (--values with gateway.tracing.enabled: {str(mode == 'traced').lower()})")
            stack.callback(platform.reset)
            stack.enter_context(platform.variant(TRACED if mode == "traced" else {}))
        vllm = service_or_skip(platform, "vllm-decode")
        epp = service_or_skip(platform, "epp")
        done = send_traced_by_every_hop(platform).completion
        expect_spans(platform, lambda: request_spans_in_jaeger(platform.jaeger, done, slack_s=2.0),
                     [LlmRequestOf(vllm, done), SpansExist(epp)], f"the completion's spans (trace {done.traceparent.trace_id})")
        settle(platform, done)
        tree = forest(request_spans_in_jaeger(platform.jaeger, done, slack_s=2.0), done.traceparent.span_id)
    if update:
        old = load_expected(path) if path.exists() else None
        roots = compare(old.roots, tree).actual if old else tree
        write_expected(path, roots, request="completion", header=old.header if old else
                       f"# One completion (POST /v1/completions, not streamed) on profile {platform.profile.name}, "
                       f"gateway {mode}: every span that reaches the backend.\n"
                       "# Recorded by `pytest e2e --update-expected-traces`; edit counts to \"1+\" where they vary.\n")
        print(f"rewrote {path}")
        return
    expected = load_expected(path)
    result = compare(expected.roots, tree)
    assert result.matches, (
        f"the trace of one completion (profile {platform.profile.name}, gateway {mode}, trace "
        f"{done.traceparent.trace_id}) is not the expected one ({path}); after a deliberate upstream change, "
        f"rewrite it with --update-expected-traces\n{result.side_by_side()}\n(logs: {platform.logs_hint()})")

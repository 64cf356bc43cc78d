"""The whole trace of one completion, compared as a whole against data: for the run's profile
and each gateway mode, config/expected-traces/<profile>[-proxied]-<mode>.yaml names every span that
reaches the backend (the component that made it, span names, kinds, parent relations, counts).
Each component stands for the service name the values in effect give it, so a run whose values
rename the services (tracing.serviceNames.*) is held against the same file. A failure shows the
expected tree beside the tree that arrived; after a deliberate upstream change,
`pytest e2e --update-expected-traces` rewrites the file from what arrived (keeping its comment
and its "1+" counts)."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.platforms.base import component_services
from llmd_trace_e2e.runtime.paths import config_dir
from llmd_trace_e2e.deployment.values import deep_merge
from llmd_trace_e2e.traces.assertions import SpansExist
from llmd_trace_e2e.traces.request import request_spans_in_jaeger
from llmd_trace_e2e.traces.tree import FORMAT, compare, forest, load_expected, resolve, to_components, write_expected

from pytest_llmd_trace.suite import LlmRequestOf, send_traced_by_every_hop, service_or_skip, tracing_overlay

pytestmark = pytest.mark.guide("What Gets Traced")

TRACED = {"gateway": {"tracing": {"enabled": True}}}
MODES = ("transparent", pytest.param("traced", marks=pytest.mark.variant(restarts="gateway")))
# What a user names their services (the current guide recommends per-deployment names).
RENAMED = {"vllmDecode": "decode-under-test", "vllmPrefill": "prefill-under-test", "routingProxy": "proxy-under-test"}


def expected_path(platform, mode):
    """<profile>-<mode>.yaml; <profile>-proxied-<mode>.yaml where a routing proxy runs in front of
    vLLM (locally only where the run has a pd-sidecar binary: --component routing-proxy=PATH)."""
    proxied = "-proxied" if platform.name == "local" and platform.profile.runs("routing-proxy") else ""
    return config_dir() / "expected-traces" / f"{platform.profile.name}{proxied}-{mode}.yaml"


def renamed_overlay(platform) -> dict:
    """RENAMED, less the serviceNames keys the profile's chart version does not have."""
    keys = platform.profile.values_schema["modelservice"].keys
    names = {k: v for k, v in RENAMED.items() if f"serviceNames.{k}" in keys}
    return tracing_overlay(platform, {"serviceNames": names}, ("modelservice",))


def leaves_the_expected_tree(request, platform, mode: str, overlay: dict | None = None) -> None:
    """One completion's whole trace against the expected tree of `mode`, under the run's values
    plus `overlay` (a variant), with the gateway in that mode."""
    path = expected_path(platform, mode)
    update = request.config.getoption("update_expected_traces")
    if not path.exists() and not update:
        pytest.skip(f"no expected tree for profile {platform.profile.name}, gateway {mode}: {path} is missing; "
                    "record it from a real run with --update-expected-traces")
    service_or_skip(platform, "vllm-decode")  # before any restart: a component that cannot be checked fails here
    service_or_skip(platform, "epp")
    traced = platform.gateway_service is not None
    if (mode == "traced") != traced:
        if platform.name != "local":
            pytest.skip(f"the run's gateway is {'traced' if traced else 'transparent'}; this case needs "
                        f"it {mode} (--values with gateway.tracing.enabled: {str(mode == 'traced').lower()})")
        overlay = deep_merge(overlay or {}, TRACED if mode == "traced" else {})
    if overlay is not None:  # stays until the next variant or reset (e2e/conftest.py): each restart once
        platform.apply_variant(overlay)
    services = component_services(platform.values, platform.profile, platform.gateway_service)
    done = send_traced_by_every_hop(platform).completion
    platform.expect_spans(lambda: request_spans_in_jaeger(platform.traces, done, slack_s=2.0),
                          [LlmRequestOf(services["vllm-decode"], done), SpansExist(services["epp"])],
                          f"the completion's spans (trace {done.traceparent.trace_id})")
    platform.settle(done)
    tree = forest(request_spans_in_jaeger(platform.traces, done, slack_s=2.0), done.traceparent.span_id)
    if update:
        old = load_expected(path) if path.exists() else None
        roots = compare(resolve(old.roots, services), tree).actual if old else tree
        write_expected(path, to_components(roots, services), request="completion", header=old.header if old else
                       f"# One completion (POST /v1/completions, not streamed) on profile {platform.profile.name}, "
                       f"gateway {mode}: every span that reaches the backend.\n"
                       "# Recorded by `pytest e2e --update-expected-traces`; edit counts to \"1+\" where they vary.\n"
                       + FORMAT)
        print(f"rewrote {path}")
        return
    result = compare(resolve(load_expected(path).roots, services), tree)
    names = ", ".join(f"{c}={s}" for c, s in services.items() if s)
    assert result.matches, (
        f"the trace of one completion (profile {platform.profile.name}, gateway {mode}, trace "
        f"{done.traceparent.trace_id}) is not the expected one ({path}, its components here: {names}); after a "
        f"deliberate upstream change, rewrite it with --update-expected-traces\n{result.side_by_side()}\n"
        f"(logs: {platform.logs_hint()})")


@pytest.mark.promise("tree: the whole trace of one completion is config/expected-traces/<profile>-<mode>.yaml")
@pytest.mark.parametrize("mode", MODES)
def test_one_completion_leaves_the_expected_trace_tree(request, platform, mode):
    leaves_the_expected_tree(request, platform, mode)


@pytest.mark.promise("tree: with the services renamed in the values, the same expected tree holds")
@pytest.mark.variant
@pytest.mark.parametrize("mode", ("transparent", "traced"))
def test_the_expected_tree_follows_renamed_services(request, platform, mode):
    """tracing.serviceNames renames vLLM (and the routing proxy): the tree names components, so the
    same file holds, each component now exporting under its new name."""
    leaves_the_expected_tree(request, platform, mode, renamed_overlay(platform))

"""The trace-tree comparison (traces/tree.py) on fake spans: normalization, counts, the diff, the data."""
from dataclasses import replace

import pytest

from llmd_trace_e2e.traces.tree import (
    ANY_COUNT, COMPONENTS, FORMAT, Node, compare, forest, load_expected, resolve, to_components, write_expected)

from .spans import CLIENT_PARENT, full_path, span

OTHER_TRACE = "1" * 32
SERVICES = {"caller": "client", "gateway": None, "epp": "epp", "routing-proxy": None, "vllm-decode": "vllm",
            "vllm-prefill": None}  # component -> the service its spans carry in the fake run


def request_spans():
    """The caller's trace (vLLM under the caller, with two HTTP children) and the EPP's own root trace."""
    return [
        span("vllm", "POST /v1/completions", "a000000000000001"),
        span("vllm", "POST /v1/completions http send", "a000000000000002", parent="a000000000000001"),
        span("vllm", "POST /v1/completions http send", "a000000000000003", parent="a000000000000001"),
        span("vllm", "llm_request", "a000000000000004"),
        span("epp", "gateway.request", "b000000000000001", parent=None, trace=OTHER_TRACE),
        span("epp", "gateway.request_orchestration", "b000000000000002", parent="b000000000000001", trace=OTHER_TRACE),
    ]


def test_roots_say_where_they_hang_and_identical_siblings_merge():
    lines = [line for node in forest(request_spans(), CLIENT_PARENT) for line in node.lines()]
    assert lines == [
        "vllm :: POST /v1/completions [SERVER]  (parent: caller)",
        "  vllm :: POST /v1/completions http send [SERVER] x2",
        "vllm :: llm_request [SERVER]  (parent: caller)",
        "epp :: gateway.request [SERVER]  (parent: none)",
        "  epp :: gateway.request_orchestration [SERVER]",
    ]


def test_ids_timings_and_arrival_order_do_not_matter():
    spans = request_spans()
    shuffled = [replace(s, start_ns=s.start_ns + 7 * i, end_ns=s.end_ns + 9 * i) for i, s in enumerate(reversed(spans))]
    assert compare(forest(spans, CLIENT_PARENT), forest(shuffled, CLIENT_PARENT)).matches


def test_an_orphan_is_not_a_child_of_the_caller():
    orphan = span("vllm", "llm_request", "c000000000000001", parent="dead00000000beef")
    [node] = forest([orphan], CLIENT_PARENT)
    assert node.parent == "missing"


def test_a_changed_parent_relation_fails_with_both_trees_side_by_side():
    expected = forest(full_path())
    moved = [s if s.name != "llm_request" else replace(s, parent_span_id="1000000000000001") for s in full_path()]
    result = compare(expected, forest(moved))
    assert not result.matches
    table = result.side_by_side()
    assert "expected" in table.splitlines()[0] and "arrived" in table.splitlines()[0]
    assert any(line.startswith("!") and "llm_request" in line for line in table.splitlines())
    assert any("llm_request" in d for d in result.differences)


def test_a_missing_service_and_an_extra_span_are_differences():
    expected = forest(request_spans(), CLIENT_PARENT)
    without_epp = [s for s in request_spans() if s.service != "epp"]
    assert any(d.startswith("-epp :: gateway.request") for d in compare(expected, forest(without_epp, CLIENT_PARENT)).differences)
    extra = request_spans() + [span("vllm", "llm_request", "a000000000000009")]
    assert any("llm_request [SERVER] x2" in d for d in compare(expected, forest(extra, CLIENT_PARENT)).differences)


def test_an_exact_count_fails_when_it_changes_and_any_count_accepts_it():
    three = request_spans() + [span("vllm", "POST /v1/completions http send", "a00000000000000a", parent="a000000000000001")]
    exact = forest(request_spans(), CLIENT_PARENT)
    assert not compare(exact, forest(three, CLIENT_PARENT)).matches
    loose = tuple(replace(n, children=tuple(replace(c, count=ANY_COUNT) for c in n.children)) for n in exact)
    assert compare(loose, forest(three, CLIENT_PARENT)).matches
    assert compare(loose, forest(request_spans(), CLIENT_PARENT)).matches


def test_a_kind_change_is_a_difference():
    spans = [replace(s, kind="INTERNAL") if s.name == "llm_request" else s for s in request_spans()]
    assert not compare(forest(request_spans(), CLIENT_PARENT), forest(spans, CLIENT_PARENT)).matches


def test_written_data_reads_back_the_same_and_keeps_its_header(tmp_path):
    path = tmp_path / "local-transparent.yaml"
    roots = forest(request_spans(), CLIENT_PARENT)
    loose = tuple(replace(n, children=tuple(replace(c, count=ANY_COUNT) for c in n.children)) for n in roots)
    write_expected(path, to_components(loose, SERVICES), request="completion",
                   header="# one completion\n# second line\n")
    assert "component: vllm-decode" in path.read_text() and "service:" not in path.read_text()
    loaded = load_expected(path)
    assert resolve(loaded.roots, SERVICES) == loose and loaded.request == "completion"
    assert loaded.header == "# one completion\n# second line\n"
    # a rewrite from what arrived keeps the "1+" of the expected tree
    arrived = compare(resolve(loaded.roots, SERVICES), forest(request_spans(), CLIENT_PARENT)).actual
    write_expected(path, to_components(arrived, SERVICES), request="completion", header=loaded.header)
    assert resolve(load_expected(path).roots, SERVICES) == loose


def renamed(spans, old: str, new: str):
    return [replace(s, service=new) if s.service == old else s for s in spans]


def test_an_expected_tree_holds_under_renamed_services_and_a_wrong_span_name_still_fails():
    """The same expected tree (components) against a run whose vLLM exports as decode-under-test."""
    expected = to_components(forest(request_spans(), CLIENT_PARENT), SERVICES)
    assert {n.service for n in expected} == {"vllm-decode", "epp"}
    services = {**SERVICES, "vllm-decode": "decode-under-test"}
    arrived = renamed(request_spans(), "vllm", "decode-under-test")
    assert compare(resolve(expected, services), forest(arrived, CLIENT_PARENT)).matches
    # the positive control: the old name no longer matches, and a wrong span name fails under the new one
    assert not compare(resolve(expected, SERVICES), forest(arrived, CLIENT_PARENT)).matches
    wrong = [replace(s, name="llm_request_v2") if s.name == "llm_request" else s for s in arrived]
    result = compare(resolve(expected, services), forest(wrong, CLIENT_PARENT))
    assert not result.matches
    assert "-decode-under-test :: llm_request [SERVER]  (parent: caller)" in result.differences
    assert "+decode-under-test :: llm_request_v2 [SERVER]  (parent: caller)" in result.differences


def test_a_component_that_makes_no_spans_here_shows_as_such():
    expected = (Node("gateway", "ingress", "SERVER", 1, (), "caller"),)
    [node] = resolve(expected, SERVICES)
    assert node.service == "(gateway: no spans under these values)"
    assert not compare(resolve(expected, SERVICES), forest(request_spans(), CLIENT_PARENT)).matches


def test_recording_a_span_of_no_component_or_a_shared_name_is_refused():
    stray = forest([span("sidecar-x", "forward_request", "d000000000000001")], CLIENT_PARENT)
    with pytest.raises(ValueError, match="cannot record span 'forward_request' of service 'sidecar-x': no component "
                                         "of this run exports under it"):
        to_components(stray, SERVICES)
    shared = {**SERVICES, "vllm-prefill": "vllm"}
    with pytest.raises(ValueError, match="both vllm-decode and vllm-prefill export under it"):
        to_components(forest(request_spans(), CLIENT_PARENT), shared)


def test_the_format_header_names_every_component():
    assert all(c in FORMAT for c in COMPONENTS)
    assert all(line.startswith("# ") and len(line) <= 100 for line in FORMAT.splitlines())


@pytest.mark.parametrize("text, message", [
    ("roots: [{component: epp, name: b, kind: SERVER}]", "needs parent: one of caller, none, missing"),
    ("roots: [{parent: caller, component: epp, kind: SERVER}]", "a span without name"),
    ("roots: [{parent: caller, component: epp, name: b, kind: SERVER, count: 0}]", "must be a positive integer or '1+'"),
    ("spans: []", "expected a mapping with a `roots` list"),
    ("roots: [{parent: caller, component: vllm, name: llm_request, kind: SERVER}]",
     "span 'llm_request' names the unknown component 'vllm': use one of caller, gateway, epp, routing-proxy, "
     "vllm-decode, vllm-prefill"),
    ("roots: [{parent: none, component: epp, name: a, kind: SERVER, children: [{component: decode, name: b, kind: X}]}]",
     "span 'b' names the unknown component 'decode'"),
    ("roots: [{parent: caller, service: vllm-decode, name: llm_request, kind: SERVER}]",
     "span 'llm_request' names the service 'vllm-decode'; an expected tree names the component that made it instead"),
])
def test_bad_expected_data_names_the_file_and_the_fix(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ValueError, match="bad.yaml") as err:
        load_expected(path)
    assert message in str(err.value)
    assert "\n" not in str(err.value)


def test_the_repos_expected_trees_load_and_name_only_components():
    from llmd_trace_e2e.runtime.paths import config_dir

    def components(nodes):
        return {n.service for n in nodes} | {c for n in nodes for c in components(n.children)}

    files = sorted((config_dir() / "expected-traces").glob("*.yaml"))
    assert files, "no expected trees in config/expected-traces/"
    for path in files:
        expected = load_expected(path)
        assert components(expected.roots) <= set(COMPONENTS), path
        assert FORMAT in expected.header, f"{path}: its header does not document the format"

def test_a_node_with_children_renders_indented():
    node = Node("s", "n", "SERVER", 1, (Node("s", "c", "INTERNAL", 3),), "caller")
    assert node.lines() == ["s :: n [SERVER]  (parent: caller)", "  s :: c [INTERNAL] x3"]


def test_renaming_that_reorders_siblings_still_matches():
    """Siblings sort by service: a rename can move a component's span past another's (seen: the
    gateway's ext_proc span before vLLM's under vllm-decode, after it under decode-under-test)."""
    spans = [span("gw", "ingress", "e000000000000001"),
             span("gw", "ext_proc egress", "e000000000000002", parent="e000000000000001"),
             span("vllm", "llm_request", "e000000000000003", parent="e000000000000001")]
    services = {**SERVICES, "gateway": "gw"}
    expected = to_components(forest(spans, CLIENT_PARENT), services)
    for name in ("a-decode", "z-decode"):
        arrived = forest(renamed(spans, "vllm", name), CLIENT_PARENT)
        result = compare(resolve(expected, {**services, "vllm-decode": name}), arrived)
        assert result.matches, result.side_by_side()


def test_components_resolve_to_the_service_names_the_values_give_them():
    """vLLM's name from its chart's OTEL_SERVICE_NAME, the routing proxy's from the values'
    serviceNames.routingProxy (its chart renders that), the EPP's from the profile (its chart's)."""
    from llmd_trace_e2e.platforms.base import component_services
    from llmd_trace_e2e.deployment.profiles import load_profile, profile_names
    from llmd_trace_e2e.deployment.values import deep_merge, nest

    kind = [p for p in map(load_profile, profile_names()) if p.platform == "kind"
            and "serviceNames.routingProxy" in p.values_schema["modelservice"].keys]
    if not kind:
        pytest.skip("no kind profile whose chart takes serviceNames.routingProxy in config/profiles.yaml")
    profile = kind[0]
    path = profile.values_schema["modelservice"].path
    values = deep_merge(nest(path, {"enabled": True, "serviceNames": {"vllmDecode": "decode-under-test",
                                                                      "routingProxy": "proxy-under-test"}}),
                        {"decode": {"containers": [{"name": "vllm", "image": "vllm/vllm-openai-cpu:x",
                                                    "modelCommand": "vllmServe"}]}})
    epp = profile.values_schema["epp"].path
    selector = "router" if epp.startswith("router.") else "inferencePool"
    values = deep_merge(values, deep_merge(nest(epp, {"enabled": True}),
                                           {selector: {"modelServers": {"matchLabels": {"app": "vllm"}}}}))
    services = component_services(values, profile, "gw")
    assert set(services) == set(COMPONENTS)
    assert services["vllm-decode"] == "decode-under-test" and services["routing-proxy"] == "proxy-under-test"
    assert services["epp"] == profile.services["epp"] and services["gateway"] == "gw"
    plain = component_services(deep_merge(values, nest(path, {"serviceNames": {"routingProxy": None}})), profile, None)
    assert plain["routing-proxy"] == profile.services["routing-proxy"] and plain["gateway"] is None

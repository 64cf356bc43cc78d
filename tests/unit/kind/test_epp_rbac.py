"""Which permissions the dry run checks for an EPP: the needs in config/epp-rbac.yaml, switched
on and off by the rendered EPP's args and the CRDs installed. No API server here."""
from __future__ import annotations

import pytest

from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.platforms.kind.epp_rbac import (
    EppDeployment, Permission, expected_denials, load_epp_rbac, needed_permissions)

GAIE_V150 = "registry.k8s.io/gateway-api-inference-extension/epp:v1.5.0"
REWRITES_CRD = "inferencemodelrewrites.inference.networking.x-k8s.io"
OBJECTIVES_CRD = "inferenceobjectives.inference.networking.x-k8s.io"


def epp(*args: str, image: str = GAIE_V150, chart: str = "inferencepool v1.5.0") -> EppDeployment:
    return EppDeployment("test", chart, image, args, "sa", "llm-d", ())


def resources(perms) -> set[str]:
    return {p.resource for p in perms}


def test_pool_mode_watches_the_pool_objects_the_crds_define():
    wanted, off, read_from = needed_permissions(epp("--pool-name", "p", "--metrics-endpoint-auth=false"),
                                                {REWRITES_CRD, OBJECTIVES_CRD}, load_epp_rbac())
    assert resources(wanted) == {"pods", "inferencepools", "inferenceobjectives", "inferencemodelrewrites"}
    assert Permission("inference.networking.x-k8s.io", "inferencemodelrewrites", "watch", "llm-d") in wanted
    assert any("tokenreviews (the EPP runs with --metrics-endpoint-auth=false)" in o for o in off)
    assert any("controller_manager.go" in r for r in read_from), "the list says where it was read"


def test_a_crd_that_is_not_installed_is_not_watched():
    wanted, off, _ = needed_permissions(epp("--metrics-endpoint-auth=false"), {OBJECTIVES_CRD}, load_epp_rbac())
    assert "inferencemodelrewrites" not in resources(wanted)
    assert any(REWRITES_CRD in o for o in off)


def test_metrics_auth_on_by_default_needs_cluster_wide_reviews():
    wanted, _, _ = needed_permissions(epp("--pool-name", "p"), set(), load_epp_rbac())
    assert Permission("authentication.k8s.io", "tokenreviews", "create", None) in wanted


def test_standalone_mode_and_leader_election_follow_the_args():
    wanted, _, _ = needed_permissions(epp("--endpoint-selector", "app=x", "--ha-enable-leader-election"), set(),
                                      load_epp_rbac())
    assert "inferencepools" not in resources(wanted) and "leases" in resources(wanted)
    wanted, _, _ = needed_permissions(epp("--ha-enable-leader-election=false"), set(), load_epp_rbac())
    assert "leases" not in resources(wanted)


def test_an_epp_without_an_entry_names_the_fix():
    with pytest.raises(ConfigError, match=r"config/epp-rbac.yaml has no entry for the EPP image example/epp:v9"):
        needed_permissions(epp(image="example/epp:v9"), set(), load_epp_rbac())


def test_the_known_gap_is_expected_only_for_its_chart_epp_and_crds():
    data = load_epp_rbac()
    denied, gaps = expected_denials(epp(chart="inferencepool v1.2.0"), {REWRITES_CRD}, data)
    assert {str(p) for p in denied} == {f"{v} inferencemodelrewrites.inference.networking.x-k8s.io in llm-d"
                                        for v in ("get", "list", "watch")}
    assert gaps == ["inferencepool-v1.2-role-lacks-inferencemodelrewrites (issue 10 finding 6)"]
    assert expected_denials(epp(chart="inferencepool v1.2.0"), set(), data) == (set(), [])
    assert expected_denials(epp(chart="inferencepool v1.5.0"), {REWRITES_CRD}, data) == (set(), [])


def test_a_gap_that_names_no_epp_holds_for_every_epp_of_its_chart():
    denied, gaps = expected_denials(epp(chart="inferencepool v1.3.0", image="example/epp:v9"), set(), load_epp_rbac())
    assert {p.resource for p in denied} == {"tokenreviews", "subjectaccessreviews"}
    assert gaps == ["inferencepool-v1.3-metrics-auth-without-review-rbac (found by the API-server dry run of the "
                    "guide profile (not among issue 10's findings))"]

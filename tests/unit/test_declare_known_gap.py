"""declare_known_gap: a gap the run's profile lists becomes a strict xfail; an id that no profile
lists fails the test in one line (a misspelt id would otherwise make it a plain check)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from llmd_trace_e2e.deployment.profiles import known_gap_ids, load_profile
from pytest_llmd_trace.suite import declare_known_gap


class FakeRequest:
    def __init__(self):
        self.node = SimpleNamespace(user_properties=[])
        self.markers = []

    def applymarker(self, marker):
        self.markers.append(marker)


def test_every_profile_gap_is_known():
    profile = load_profile("local")
    assert profile.gaps, "positive control: the local profile lists known gaps"
    assert {g.id for g in profile.gaps} <= known_gap_ids()


def test_a_listed_gap_marks_the_test_and_an_unknown_id_fails_naming_the_known_ones():
    platform = SimpleNamespace(profile=load_profile("local"))
    listed = FakeRequest()
    declare_known_gap(listed, platform, "epp-new-root-trace")
    assert listed.node.user_properties and listed.node.user_properties[0][0] == "known gap epp-new-root-trace"
    with pytest.raises(pytest.fail.Exception, match=r"no known gap 'epp-new-rot-trace' in config/profiles.yaml.*epp-new-root-trace"):
        declare_known_gap(FakeRequest(), platform, "epp-new-rot-trace")

"""The property a test proves is its `promise` marker; the old `checks` marker is refused in one
line naming `promise` (a check is a trace check, traces/assertions.py)."""
pytest_plugins = ["pytester"]

STALE = '''
import pytest

@pytest.mark.checks("sampling: flags 00 leaves no span")
def test_old():
    pass
'''

CURRENT = '''
import pytest

@pytest.mark.promise("sampling: flags 00 leaves no span")
def test_new():
    pass
'''


def test_a_checks_marker_is_refused_naming_promise(pytester):
    pytester.makepyfile(test_stale=STALE)
    result = pytester.runpytest_subprocess("-p", "pytest_llmd_trace.plugin", "-p", "no:cacheprovider")
    assert result.ret != 0, "a test still marked `checks` was collected and run"
    result.stderr.fnmatch_lines(["*@pytest.mark.checks is now @pytest.mark.promise*test_stale.py::test_old*"])


def test_a_promise_marker_is_registered(pytester):
    """The positive control: the same test marked `promise` runs, under --strict-markers too."""
    pytester.makepyfile(test_current=CURRENT)
    result = pytester.runpytest_subprocess("-p", "pytest_llmd_trace.plugin", "-p", "no:cacheprovider", "--strict-markers")
    result.assert_outcomes(passed=1)

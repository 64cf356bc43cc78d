"""summary.md names the property each test proves (its `promise` marker)."""
from llmd_trace_e2e.report.summary import TestRecord, render_summary


def test_the_promised_property_is_shown_under_the_test_name():
    text = render_summary([TestRecord("e2e/test_sampling.py::test_x", "passed", 1.0, promise="sampling: flags 00, no span"),
                           TestRecord("e2e/test_other.py::test_y", "passed", 1.0)])
    assert "`e2e/test_sampling.py::test_x`<br>promise: sampling: flags 00, no span |" in text
    assert "`e2e/test_other.py::test_y` |" in text

"""The local platform's one addition to the exporters' env (a shorter batch delay) keeps what the
chart rendered, and a value that sets the same variable still wins."""
from llmd_trace_e2e.platforms.local.launches import EXPORT_BATCH_DELAY_MS, batch_delay_s, with_batch_delay
from llmd_trace_e2e.deployment.charts import Launch


def test_the_charts_env_stays_and_the_delay_comes_first():
    chart = Launch(("--otlp-traces-endpoint", "http://127.0.0.1:4317"), (("OTEL_SERVICE_NAME", "vllm-decode"),), True)
    local = with_batch_delay(chart)
    assert local.args == chart.args and local.tracing
    assert local.env == {"OTEL_SERVICE_NAME": "vllm-decode", "OTEL_BSP_SCHEDULE_DELAY": str(EXPORT_BATCH_DELAY_MS)}
    assert batch_delay_s(local, with_batch_delay(Launch())) == EXPORT_BATCH_DELAY_MS / 1000  # what settle() waits for


def test_a_value_setting_the_delay_wins():
    chart = Launch((), (("OTEL_BSP_SCHEDULE_DELAY", "5000"),), True)
    assert with_batch_delay(chart).env["OTEL_BSP_SCHEDULE_DELAY"] == "5000"
    assert batch_delay_s(with_batch_delay(chart), with_batch_delay(Launch())) == 5.0  # settle() waits the longest
    assert batch_delay_s(Launch()) == 5.0  # unset: the SDKs' default

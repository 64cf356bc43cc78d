"""What the tracing guide and the charts promise: values, chart renders and their emulation, profiles, collector configs."""

"""End-to-end tests for llm-d's distributed tracing, as a library that knows nothing of pytest."""

"""The local platform: the llm-d request path as real processes on 127.0.0.1."""

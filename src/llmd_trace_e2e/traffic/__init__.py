"""What the harness sends: completions (requests and the OpenAI SDK) and canary spans."""

"""helm --post-renderer: `python -m llmd_trace_e2e.platforms.kind.postrender NAME...` reads the rendered
manifests on stdin and writes them back with the named changes (charts.post_render_documents)."""
from __future__ import annotations

import sys

import yaml

from llmd_trace_e2e.deployment.charts import post_render_documents
from llmd_trace_e2e.deployment.profiles import POST_RENDERS


def main(argv: list[str]) -> int:
    unknown = set(argv) - set(POST_RENDERS)
    if unknown:
        print(f"error: unknown post-render {sorted(unknown)}; known: {', '.join(POST_RENDERS)}", file=sys.stderr)
        return 2
    documents = [d for d in yaml.safe_load_all(sys.stdin) if isinstance(d, dict)]
    yaml.safe_dump_all(post_render_documents(documents, tuple(argv)), sys.stdout, sort_keys=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

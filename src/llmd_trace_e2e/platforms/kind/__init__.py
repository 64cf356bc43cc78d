"""The kind platform: a kind cluster with the collector, Jaeger, Istio as the gateway, the EPP
chart and llm-d-modelservice with tracing on, and vLLM.

Everything a run does is first laid out as a `Plan` (plan.py): `--plan` prints it, `up` runs
exactly it. Modules: options (what the user asked), valuesfiles and manifests (what gets
rendered), plan (the ordered steps), preflight (checks before anything is created), kube
(API access and waits), cluster (kind lifecycle, through pytest-kind), diagnostics, runner
(up/down), cli; dryrun, epp_rbac and crd_modules hold the plan against a real API server.
"""

"""What llm-d's charts render from Helm values, per chart version, computed without helm.

Used only where the real chart cannot be had (chart_render.py renders those that can);
tests/unit/test_golden_renders.py holds it against every real render in ../shared/golden-renders.
It covers the traced containers (decode/prefill vLLM, the routing proxy, the EPP): their env
in render order and their args, and the values the charts refuse, in helm's words.

Sources read for it (release tags): llm-d-modelservice `templates/_helpers.tpl`,
`values.yaml`, `values.schema.json` (v0.4.5-v0.4.12); GAIE `config/charts/inferencepool`
(v1.2.0, v1.3.0) and `config/charts/epplib` (v1.5.0); llm-d-router `config/charts/routerlib`
(v0.10.0).
"""
from __future__ import annotations

import re
from typing import Any, Mapping

from llmd_trace_e2e.deployment.chart_render import ChartRefused, RenderedContainer, env_value
from llmd_trace_e2e.runtime.errors import ConfigError
from llmd_trace_e2e.deployment.values import COLLECTOR_ENDPOINT, lookup

MODELSERVICE = "llm-d-modelservice"
INFERENCEPOOL = "inferencepool"
ROUTER = "llm-d-router-gateway"
CHARTS = (MODELSERVICE, INFERENCEPOOL, ROUTER)

GUIDE_COLLECTOR = COLLECTOR_ENDPOINT  # llm-d-modelservice v0.4.5-v0.4.6's default is the guide's
SCHEMA_REFUSAL = "values don't meet the specifications of the schema(s) in the following chart(s):"


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:3])


def helm_merge(base: Mapping[str, Any], overlay: Mapping[str, Any]) -> dict[str, Any]:
    """Helm's coalescing: maps merge key by key, lists and scalars are replaced, null deletes."""
    out = dict(base)
    for key, value in overlay.items():
        if value is None:
            out.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = helm_merge(out[key], value)
        else:
            out[key] = value
    return out


def _schema_errors(values: Any, closed: Mapping[str, set[str]], path: str) -> list[tuple[str, str, list]]:
    """additionalProperties violations at `path` and below, as helm's JSON-schema check groups them:
    a node with one error passes it up, a node with more says "validation failed" above them."""
    if not isinstance(values, Mapping):
        return []
    errors = []
    for key in sorted(values):
        child = f"{path}.{key}" if path else key
        if any(p == child or p.startswith(child + ".") for p in closed):
            found = _schema_errors(values[key], closed, child)
            if len(found) == 1:
                errors.append(found[0])
            elif found:
                errors.append((child, "validation failed", found))
    extra = sorted(k for k in values if k not in closed[path]) if path in closed else []
    if extra:
        errors.append((path, f"additional properties {', '.join(repr(k) for k in extra)} not allowed", []))
    return errors


def _error_lines(errors: list[tuple[str, str, list]]) -> list[str]:
    lines = []
    for path, message, causes in errors:
        lines.append(f"- at '{'/' + path.replace('.', '/') if path else ''}': {message}")
        lines += _error_lines(causes)
    return lines


def _schema_refusal(chart: str, version: str, values: Mapping[str, Any], closed: Mapping[str, set[str]]) -> None:
    """additionalProperties: false, as helm's JSON-schema check words a violation."""
    lines = _error_lines(_schema_errors(values, closed, ""))
    if lines:
        raise ChartRefused(chart, version, " ".join([SCHEMA_REFUSAL, f"{chart}:", *lines]))


def _fail(chart: str, version: str, template: str, message: str) -> ChartRefused:
    """A template's `fail`/`required`, in helm's words (less the line and column, which this cannot know)."""
    return ChartRefused(chart, version, f"execution error at ({chart}/templates/{template}): {message} "
                                        "Use --debug flag to render out invalid YAML")


def _env(entries: Any) -> list[tuple[str, str]]:
    return [(str(e["name"]), env_value(e)) for e in entries or [] if isinstance(e, Mapping) and "name" in e]


# ---- llm-d-modelservice -----------------------------------------------------------------------

MS_TOP_LEVEL = {"accelerator", "common", "decode", "enabled", "extraObjects", "fullnameOverride", "global",
                "modelArtifacts", "multinode", "prefill", "requester", "routing", "serviceAccountOverride"}
MS_ARTIFACTS = {"authSecretName", "labels", "mountPath", "name", "size", "uri"}


def modelservice_tracing_path(version: str) -> str:
    """v0.4.5-v0.4.6 read global.tracing.*; from v0.4.7 top-level tracing.* (global.tracing is ignored)."""
    return "global.tracing" if version_tuple(version) < (0, 4, 7) else "tracing"


def modelservice_tracing_keys(version: str) -> tuple[str, ...]:
    """The leaves the chart's schema allows under its tracing path."""
    names = ["serviceNames.vllmDecode", "serviceNames.vllmPrefill"]
    if version_tuple(version) >= (0, 4, 7):
        names.append("serviceNames.routingProxy")
    return ("enabled", "otlpEndpoint", "sampling.sampler", "sampling.samplerArg", *names, "vllm.collectDetailedTraces")


def _ms_closed(version: str) -> dict[str, set[str]]:
    v, path = version_tuple(version), modelservice_tracing_path(version)
    keys = modelservice_tracing_keys(version)
    closed: dict[str, set[str]] = {path: {k.split(".")[0] for k in keys}, "routing": {"proxy", "servicePort"},
                                   "modelArtifacts": MS_ARTIFACTS | ({"readOnly"} if v >= (0, 4, 12) else set())}
    for group in ("sampling", "serviceNames", "vllm"):
        closed[f"{path}.{group}"] = {k.split(".")[1] for k in keys if k.startswith(group + ".")}
    if v < (0, 4, 7):
        closed["global"] = {"tracing"}
    if v <= (0, 4, 7):  # from v0.4.8 the top level allows any key
        closed[""] = MS_TOP_LEVEL | ({"tracing"} if v >= (0, 4, 7) else set())
    return closed


def modelservice_defaults(version: str) -> dict[str, Any]:
    """The chart's own values.yaml, for the keys the emulated templates read."""
    v = version_tuple(version)
    names = {"vllmDecode": "vllm-decode", "vllmPrefill": "vllm-prefill"}
    if v >= (0, 4, 7):
        names["routingProxy"] = "routing-proxy"
    tracing = {"enabled": False, "otlpEndpoint": GUIDE_COLLECTOR if v < (0, 4, 7) else "http://otel-collector:4317",
               "sampling": {"sampler": "parentbased_traceidratio", "samplerArg": "1.0"},
               "serviceNames": names, "vllm": {"collectDetailedTraces": "all"}}
    parallelism = {"tensor": 1, "data": 1, "dataLocal": 1, "workers": 1}
    defaults: dict[str, Any] = {
        "modelArtifacts": {"name": "random/model", "uri": "hf://{{ .Values.modelArtifacts.name }}",
                           "authSecretName": "", "mountPath": "/model-cache"},
        "accelerator": {"type": "nvidia", "env": {
            "intel-i915": [{"name": "VLLM_USE_V1", "value": "1"}, {"name": "TORCH_LLM_ALLREDUCE", "value": "1"},
                           {"name": "VLLM_WORKER_MULTIPROC_METHOD", "value": "spawn"}],
            "intel-xe": [{"name": "VLLM_WORKER_MULTIPROC_METHOD", "value": "spawn"}]}},
        "routing": {"servicePort": 8000, "proxy": {"enabled": True, "image": "ghcr.io/llm-d/llm-d-routing-sidecar:latest",
                                                   "imagePullPolicy": "Always", "targetPort": 8200,
                                                   "connector": "nixlv2", "secure": False, "zapEncoder": "json",
                                                   "zapLogLevel": "debug"}},
        "decode": {"create": True, "replicas": 1, "parallelism": dict(parallelism), "containers": [
            {"name": "vllm", "image": "ghcr.io/llm-d/llm-d-inference-sim:latest", "modelCommand": "imageDefault",
             "command": [], "args": [], "env": [], "mountModelVolume": True}]},
        "prefill": {"create": True, "replicas": 0, "parallelism": dict(parallelism), "containers": [
            {"name": "vllm", "image": "ghcr.io/llm-d/llm-d-inference-sim:latest", "modelCommand": "imageDefault",
             "command": [], "args": [], "env": [], "mountModelVolume": True}]},
        "multinode": False,
        "requester": {"enable": False},
    }
    return helm_merge(defaults, {"global": {"tracing": tracing}} if v < (0, 4, 7) else {"tracing": tracing})


def _parallelism(p: Mapping[str, Any] | None) -> tuple[int, int, int]:
    p = p or {}
    tp = int(p.get("tensor") or 1)
    data, local, workers = p.get("data"), p.get("dataLocal"), p.get("workers")
    dp = int(data or (int(local) * int(workers) if local and workers else local) or 1)
    dpl = int(local or (int(data) // int(workers) if data and workers else data) or 1)
    return tp, dp, dpl


def _model_arg(values: Mapping[str, Any], with_flag: bool) -> list[str]:
    artifacts = values.get("modelArtifacts") or {}
    uri = str(artifacts.get("uri", "")).replace("{{ .Values.modelArtifacts.name }}", str(artifacts.get("name", "")))
    protocol, _, rest = uri.partition("://")
    flag = ["--model"] if with_flag else []
    if protocol == "hf":
        return flag + [rest]
    if protocol == "pvc":
        return flag + [f"{artifacts.get('mountPath')}/{rest.split('/', 1)[-1]}"]
    if protocol == "pvc+hf":
        parts = rest.split("/")
        return flag + [f"{parts[-2]}/{parts[-1]}"]
    return flag


def _ms_tracing(values: Mapping[str, Any], version: str) -> Mapping[str, Any] | None:
    block = lookup(values, modelservice_tracing_path(version)) or {}
    return block if block.get("enabled") else None


def _vllm_args(values: Mapping[str, Any], c: Mapping[str, Any], role: str, tracing, port: int) -> list[str]:
    tp, dp, dpl = _parallelism(lookup(values, f"{role}.parallelism"))
    args = _model_arg(values, c.get("modelCommand") == "imageDefault") + ["--port", str(port)]
    for flag, n in (("--tensor-parallel-size", tp), ("--data-parallel-size", dp), ("--data-parallel-size-local", dpl)):
        if n > 1:
            args += [flag, str(n)]
    args += ["--served-model-name", str(lookup(values, "modelArtifacts.name"))]
    if tracing:  # before the container's own args
        args += ["--otlp-traces-endpoint", str(tracing.get("otlpEndpoint")),
                 "--collect-detailed-traces", str(lookup(tracing, "vllm.collectDetailedTraces"))]
    return args + [str(a) for a in c.get("args") or []]


def _vllm_env(values: Mapping[str, Any], c: Mapping[str, Any], role: str, tracing) -> list[tuple[str, str]]:
    tp, dp, dpl = _parallelism(lookup(values, f"{role}.parallelism"))
    env = _env(c.get("env")) + [("DP_SIZE", str(dp)), ("TP_SIZE", str(tp)), ("DP_SIZE_LOCAL", str(dpl))]
    artifacts = values.get("modelArtifacts") or {}
    protocol = str(artifacts.get("uri", "")).partition("://")[0]
    if protocol == "hf" and c.get("mountModelVolume"):
        env.append(("HF_HOME", str(artifacts.get("mountPath"))))
    if artifacts.get("authSecretName"):
        env.append(("HF_TOKEN", f"<secretKeyRef {artifacts['authSecretName']}/HF_TOKEN>"))
    accelerator = values.get("accelerator") or {}
    if accelerator.get("type", "nvidia") != "cpu":
        env += _env((accelerator.get("env") or {}).get(accelerator.get("type", "nvidia")))
    if tracing:  # after the container's own env: a per-container OTEL_SERVICE_NAME loses
        name = lookup(tracing, "serviceNames.vllmDecode" if role == "decode" else "serviceNames.vllmPrefill")
        env += [("OTEL_SERVICE_NAME", str(name)), ("OTEL_EXPORTER_OTLP_ENDPOINT", str(tracing.get("otlpEndpoint"))),
                ("OTEL_TRACES_EXPORTER", "otlp"), ("OTEL_TRACES_SAMPLER", str(lookup(tracing, "sampling.sampler"))),
                ("OTEL_TRACES_SAMPLER_ARG", str(lookup(tracing, "sampling.samplerArg")))]
    return env


def _vllm_container(values, version: str, role: str, c: Mapping[str, Any]) -> RenderedContainer:
    template = f"{role}-deployment.yaml"
    if not c.get("image"):
        raise _fail(MODELSERVICE, version, template, "image of container is required")
    command = c.get("modelCommand") or "custom"
    tracing = _ms_tracing(values, version)
    proxied = role == "decode" and lookup(values, "routing.proxy.enabled") is not False
    port = int(lookup(values, "routing.proxy.targetPort" if proxied else "routing.servicePort"))
    if command in ("vllmServe", "imageDefault"):
        args = _vllm_args(values, c, role, tracing, port)
        cmd: list[str] = ["vllm", "serve"] if command == "vllmServe" else []
    elif command == "custom":  # the chart's own args are left out; its tracing env is not
        if not c.get("command"):
            raise _fail(MODELSERVICE, version, template,
                        "When .container.modelCommand not set or `custom`, a `command` is required.")
        cmd, args = [str(x) for x in c["command"]], [str(a) for a in c.get("args") or []]
    else:
        raise _fail(MODELSERVICE, version, template, ".container.modelCommand is not as expected. "
                    "Valid values are `vllmServe`, `imageDefault` and `custom`.")
    return RenderedContainer(role, str(c.get("name") or "vllm"), tuple(_vllm_env(values, c, role, tracing)),
                             tuple(args), tuple(cmd))


PROXY_FLAGS = (("zapDevel", "zap-devel"), ("zapEncoder", "zap-encoder"), ("zapLogLevel", "zap-log-level"),
               ("zapStacktraceLevel", "zap-stacktrace-level"), ("zapTimeEncoding", "zap-time-encoding"),
               ("secure", "secure-proxy"), ("prefillerUseTLS", "prefiller-use-tls"), ("certPath", "cert-path"))


def _helm_str(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _routing_proxy(values, version: str) -> RenderedContainer:
    """The decode pod's routing-proxy init container: always `--connector`, never `--tracing`;
    OTEL_* env only from v0.4.7."""
    proxy = lookup(values, "routing.proxy") or {}
    if not proxy.get("image"):
        raise _fail(MODELSERVICE, version, "decode-deployment.yaml", "routing.proxy.image must be specified")
    args = [f"--port={lookup(values, 'routing.servicePort') or 8000}", f"--vllm-port={proxy.get('targetPort') or 8200}",
            f"--connector={proxy.get('connector') or 'nixlv2'}"]
    args += [f"--{flag}={_helm_str(proxy[key])}" for key, flag in PROXY_FLAGS if key in proxy]
    env: list[tuple[str, str]] = []
    tracing = _ms_tracing(values, version)
    if tracing and version_tuple(version) >= (0, 4, 7):
        env = [("OTEL_SERVICE_NAME", str(lookup(tracing, "serviceNames.routingProxy"))),
               ("OTEL_EXPORTER_OTLP_ENDPOINT", str(tracing.get("otlpEndpoint"))), ("OTEL_TRACES_EXPORTER", "otlp"),
               ("OTEL_TRACES_SAMPLER", str(lookup(tracing, "sampling.sampler"))),
               ("OTEL_TRACES_SAMPLER_ARG", str(lookup(tracing, "sampling.samplerArg")))]
    return RenderedContainer("routing-proxy", "routing-proxy", tuple(env), tuple(args))


def modelservice(version: str, user_values: Mapping[str, Any]) -> list[RenderedContainer]:
    values = helm_merge(modelservice_defaults(version), user_values)
    _schema_refusal(MODELSERVICE, version, values, _ms_closed(version))
    if values.get("multinode") or lookup(values, "requester.enable"):
        raise ChartRefused(MODELSERVICE, version, "the emulation covers Deployments only (multinode/requester: "
                                                  "give the chart with --chart llm-d-modelservice=DIR)")
    found = []
    for role in ("decode", "prefill"):
        section = values.get(role) or {}
        if not section.get("create"):
            continue
        if role == "decode" and lookup(values, "routing.proxy.enabled") is not False:
            found.append(_routing_proxy(values, version))
        found += [_vllm_container(values, version, role, c) for c in section.get("containers") or []]
    return found


# ---- the EPP charts: GAIE inferencepool, llm-d-router-gateway -----------------------------------

def epp_service_name(chart: str, version: str) -> str:
    """Hard-coded in each chart's template; not configurable through tracing.*."""
    if chart == ROUTER:
        return "llm-d-router/epp"
    return "gateway-api-inference-extension/epp" if version_tuple(version) >= (1, 4) else "gateway-api-inference-extension"


def epp_values_root(chart: str) -> str:
    return "router" if chart == ROUTER else "inferenceExtension"


def epp_user_env_path(chart: str) -> str:
    """Where each EPP chart takes the user's env (rendered after its OTEL_* env, so it wins)."""
    return "router.epp.env" if chart == ROUTER else "inferenceExtension.env"


def epp_defaults(chart: str, version: str) -> dict[str, Any]:
    tracing = {"enabled": False, "otelExporterEndpoint": "http://localhost:4317",
               "sampling": {"sampler": "parentbased_traceidratio", "samplerArg": "0.1"}}
    if chart == ROUTER:
        return {"router": {"epp": {"replicas": 1, "pluginsConfigFile": "default-plugins.yaml", "env": []},
                           "tracing": tracing, "monitoring": {"prometheus": {"auth": {"enabled": True}}}}}
    return {"inferenceExtension": {"replicas": 1, "pluginsConfigFile": "default-plugins.yaml", "flags": {"v": 1},
                                   "env": [], "tracing": tracing,
                                   "monitoring": {"prometheus": {"enabled": False, "auth": {"enabled": True}}}},
            "inferencePool": {"apiVersion": "inference.networking.k8s.io/v1", "modelServerType": "vllm"}}


def _epp_args(chart: str, version: str, values, release: str, namespace: str, tracing_on: bool) -> list[str]:
    root = epp_values_root(chart)
    epp = lookup(values, "router.epp" if chart == ROUTER else "inferenceExtension") or {}
    args = ["--pool-name", release, "--pool-namespace", namespace]
    api_version = str(lookup(values, "inferencePool.apiVersion", ""))
    if chart == ROUTER or version_tuple(version) >= (1, 4):
        args += ["--pool-group", "inference.networking.k8s.io"]
    elif api_version != "inference.networking.k8s.io":  # the template compares the whole apiVersion
        args += ["--pool-group", api_version.split("/")[0]]
    args += ["--zap-encoder", "json", "--config-file", f"/config/{epp.get('pluginsConfigFile')}"]
    if int(epp.get("replicas") or 1) > 1:
        args.append("--ha-enable-leader-election")
    flags = sorted((epp.get("flags") or {}).items())
    if chart == ROUTER:
        args += ["--grpc-health-port", str(epp.get("grpcHealthPort") or 9003)]
        args += [f"--{k}={_helm_str(v)}" for k, v in flags]
    else:
        args += [x for k, v in flags for x in (f"--{k}", _helm_str(v))]
    args.append(f"--tracing={'true' if tracing_on else 'false'}")
    prometheus = lookup(values, f"{root}.monitoring.prometheus") or {}
    auth_off = not prometheus.get("enabled") if chart == INFERENCEPOOL and version_tuple(version) < (1, 3) \
        else not lookup(prometheus, "auth.enabled")
    if auth_off:
        args.append("--metrics-endpoint-auth=false")
    return args


def epp(chart: str, version: str, user_values: Mapping[str, Any], *, release: str, namespace: str) -> list[RenderedContainer]:
    values = helm_merge(epp_defaults(chart, version), user_values)
    root = epp_values_root(chart)
    selector = "router.modelServers" if chart == ROUTER else "inferencePool.modelServers"
    if not lookup(values, f"{selector}.matchLabels"):  # the charts' _validations.tpl
        raise _fail(chart, version, "inferencepool.yaml" if chart == INFERENCEPOOL else "epp.yaml",
                    f".Values.{selector}.matchLabels is required")
    tracing = lookup(values, f"{root}.tracing") or {}
    on = bool(tracing.get("enabled"))
    env = [("NAMESPACE", "<fieldRef metadata.namespace>"), ("POD_NAME", "<fieldRef metadata.name>")]
    if on:
        env += [("OTEL_SERVICE_NAME", epp_service_name(chart, version)),
                ("OTEL_EXPORTER_OTLP_ENDPOINT", str(tracing.get("otelExporterEndpoint"))),
                ("OTEL_TRACES_EXPORTER", "otlp"),
                ("OTEL_RESOURCE_ATTRIBUTES_NODE_NAME", "<fieldRef spec.nodeName>"),
                ("OTEL_RESOURCE_ATTRIBUTES_POD_NAME", "<fieldRef metadata.name>"),
                ("OTEL_RESOURCE_ATTRIBUTES", "k8s.namespace.name=$(NAMESPACE),k8s.node.name=$(OTEL_RESOURCE_ATTRIBUTES_NODE_NAME),"
                                             "k8s.pod.name=$(OTEL_RESOURCE_ATTRIBUTES_POD_NAME)"),
                ("OTEL_TRACES_SAMPLER", str(lookup(tracing, "sampling.sampler"))),
                ("OTEL_TRACES_SAMPLER_ARG", str(lookup(tracing, "sampling.samplerArg")))]
    env += _env(lookup(values, epp_user_env_path(chart)))  # after the chart's: the user's env wins
    return [RenderedContainer("epp", "epp", tuple(env), tuple(_epp_args(chart, version, values, release, namespace, on)))]


def predict(chart: str, version: str, values: Mapping[str, Any], *, release: str, namespace: str) -> list[RenderedContainer]:
    """The traced containers `chart` at `version` renders for `values` (ChartRefused as helm would)."""
    if chart == MODELSERVICE:
        return modelservice(version, values)
    if chart in (INFERENCEPOOL, ROUTER):
        return epp(chart, version, values, release=release, namespace=namespace)
    raise ConfigError(f"no emulation of chart {chart!r} {version}: known charts are {', '.join(CHARTS)}")

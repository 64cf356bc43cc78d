"""Bad input fails before anything is created, with one line that names the fix. Docker, kind
and nvidia-smi are fake shell scripts on a PATH of the test's own."""
from __future__ import annotations

import socket

import pytest

from llmd_trace_e2e.platforms.kind import preflight, runner
from llmd_trace_e2e.platforms.kind.options import KindOptions
from llmd_trace_e2e.platforms.kind.preflight import Host, PreflightError

DAEMON_DOWN = ('if [ "$1" = info ]; then echo "Cannot connect to the Docker daemon at unix:///var/run/docker.sock.'
               ' Is the docker daemon running?" >&2; exit 1; fi')
DAEMON_UP = 'if [ "$1" = info ]; then echo 28.2.2; exit 0; fi'


def host(fake_bin, **kw) -> Host:
    return Host(env={"PATH": str(fake_bin.dir)}, **kw)


def test_no_docker_cli_is_no_container_engine(fake_bin):
    with pytest.raises(PreflightError, match=r"^no container engine: the docker CLI is not on PATH; install Docker"):
        preflight.check_container_engine(host(fake_bin))


def test_docker_daemon_down_is_no_container_engine(fake_bin):
    fake_bin("docker", DAEMON_DOWN)
    with pytest.raises(PreflightError, match=r"^no container engine: the Docker daemon is not answering "
                                             r"\(Cannot connect to the Docker daemon.*\); start Docker \(dockerd\)"):
        preflight.check_container_engine(host(fake_bin))


def test_docker_daemon_up_passes(fake_bin):
    docker = fake_bin("docker", DAEMON_UP)
    assert preflight.check_container_engine(host(fake_bin)) == str(docker)


def test_gpu_config_without_gpus_names_the_fix(fake_bin, tmp_path):
    docker = fake_bin("docker", DAEMON_UP)
    with pytest.raises(PreflightError, match=r"--gpu on a machine without NVIDIA GPUs \(nvidia-smi on PATH: no; "
                                             r".*absent\): run on a GPU runner, or drop --gpu"):
        preflight.check_gpu_host(host(fake_bin, gpu_device=tmp_path / "nvidia0"), str(docker))


def test_gpu_host_without_the_toolkits_volume_mount_setting(fake_bin, tmp_path):
    docker = fake_bin("docker", 'echo \'{"nvidia":{"path":"nvidia-container-runtime"},"runc":{}}\'')
    fake_bin("nvidia-smi", "echo 'GPU 0: FAKE'")
    device = tmp_path / "nvidia0"
    device.touch()
    config = tmp_path / "config.toml"
    config.write_text("#accept-nvidia-visible-devices-as-volume-mounts = false\n")
    h = host(fake_bin, gpu_device=device, nvidia_runtime_config=config)
    with pytest.raises(PreflightError, match="accept-nvidia-visible-devices-as-volume-mounts=true"):
        preflight.check_gpu_host(h, str(docker))
    config.write_text("accept-nvidia-visible-devices-as-volume-mounts = true\n")
    preflight.check_gpu_host(h, str(docker))


def test_docker_without_the_nvidia_runtime(fake_bin, tmp_path):
    docker = fake_bin("docker", "echo '{\"runc\":{}}'")
    fake_bin("nvidia-smi", "echo 'GPU 0: FAKE'")
    (tmp_path / "nvidia0").touch()
    with pytest.raises(PreflightError, match="nvidia-ctk runtime configure --runtime=docker"):
        preflight.check_gpu_host(host(fake_bin, gpu_device=tmp_path / "nvidia0"), str(docker))


KIND_WITH_CLUSTER = """case "$1 $2" in
  "get clusters") echo other; echo llmd-trace-e2e ;;
  "get kubeconfig") echo 'apiVersion: v1' ;;
  *) exit 1 ;;
esac"""


def test_cluster_name_in_use_by_someone_else(fake_bin):
    kind = fake_bin("kind", KIND_WITH_CLUSTER)
    with pytest.raises(PreflightError, match=r"kind cluster 'llmd-trace-e2e' exists and was not created by "
                                             r"llmd-trace-e2e: pick another --cluster-name"):
        preflight.cluster_state(host(fake_bin), str(kind), "llmd-trace-e2e", owned=lambda path: False)


def test_harness_cluster_is_reused_and_absent_one_created(fake_bin):
    kind = fake_bin("kind", KIND_WITH_CLUSTER)
    seen = []
    assert preflight.cluster_state(host(fake_bin), str(kind), "llmd-trace-e2e",
                                   owned=lambda path: seen.append(path.read_text()) or True) == "harness"
    assert seen == ["apiVersion: v1\n"], "ownership is read from the cluster's own kubeconfig"
    assert preflight.cluster_state(host(fake_bin), str(kind), "another-name", owned=lambda p: True) == "absent"


def test_image_that_cannot_be_pulled(fake_bin):
    docker = fake_bin("docker", 'if [ "$1" = manifest ]; then echo "manifest unknown: tag v9.9.9" >&2; fi; exit 1')
    with pytest.raises(PreflightError, match=r"cannot pull vllm/vllm-openai-cpu:v9\.9\.9 \(manifest unknown.*\): "
                                             r"check its tag in versions.toml"):
        preflight.check_images_pullable(host(fake_bin), str(docker), ["vllm/vllm-openai-cpu:v9.9.9"])


def test_busy_host_port_is_reported():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(PreflightError, match=f"127.0.0.1:{port} is in use"):
            preflight.check_ports_free([port])


def test_up_without_a_container_engine_creates_nothing(fake_bin, tmp_path):
    fake_bin("docker", DAEMON_DOWN)
    opts = KindOptions(profile="helmfile-guide", artifacts_dir=tmp_path / "artifacts")
    with pytest.raises(PreflightError, match="^no container engine"):
        runner.up(opts, log=lambda line: None, host=host(fake_bin))
    assert not opts.run_dir.exists(), "nothing is written or created before preflight passes"


def test_missing_kind_binary_names_make_tools(fake_bin, tmp_path, monkeypatch):
    fake_bin("docker", DAEMON_UP)
    monkeypatch.setenv("LLMD_TRACE_E2E_BIN", str(tmp_path / "empty-bin"))
    opts = KindOptions(profile="helmfile-guide", artifacts_dir=tmp_path / "artifacts")
    with pytest.raises(Exception, match=r"not found .*run `make tools`"):
        runner.up(opts, log=lambda line: None, host=host(fake_bin))
    assert not opts.run_dir.exists()

"""Finding and authenticating to the API server: kubeconfig, exec plugins, service account."""

from __future__ import annotations

import base64
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pytest_aiohttp import AiohttpServer

from tests.fake_apiserver import FakeApiServer
from tests.support import TLS, make_tls
from webhook.cluster.client import ApiError, ClusterConfigError, KubeClient, connect
from webhook.core.kinds import SERVICE

EXEC_PLUGIN = """
import json, pathlib, sys
counter = pathlib.Path(sys.argv[1])
n = int(counter.read_text()) + 1 if counter.exists() else 1
counter.write_text(str(n))
print(json.dumps({
    "apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential",
    "status": {"token": f"tok-{n}", "expirationTimestamp": "2000-01-01T00:00:00Z"},
}))
"""


@pytest.fixture
def tls() -> TLS:
    return make_tls()


@pytest.fixture
async def api_url(
    aiohttp_server: AiohttpServer, tls: TLS
) -> AsyncIterator[tuple[FakeApiServer, str]]:
    fake = FakeApiServer()
    fake.install(SERVICE)
    server = await aiohttp_server(fake.app(), ssl=tls.server_context)
    yield fake, f"https://127.0.0.1:{server.port}"
    fake.close()


def kubeconfig(tmp_path: Path, server: str, tls: TLS, user: dict[str, Any]) -> Path:
    ca = base64.b64encode(tls.ca.cert_pem.bytes()).decode()
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "fake", "cluster": {"server": server, "certificate-authority-data": ca}}
        ],
        "users": [{"name": "me", "user": user}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "me"}}],
        "current-context": "fake",
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


async def discover(client: KubeClient | None) -> Any:
    assert client is not None
    try:
        return await client.get_json("/api/v1")
    finally:
        await client.close()


async def test_no_kubeconfig_and_no_pod_means_no_cluster(tmp_path: Path) -> None:
    assert await connect(environ={}, home=tmp_path) is None
    assert await connect(environ={"KUBECONFIG": str(tmp_path / "absent")}, home=tmp_path) is None


async def test_a_missing_kubeconfig_flag_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ClusterConfigError) as raised:
        await connect(tmp_path / "nope", environ={})
    assert str(raised.value) == f"kubeconfig {tmp_path / 'nope'} does not exist"


async def test_a_kubeconfig_bearer_token_reaches_the_api_server_over_tls(
    tmp_path: Path, api_url: tuple[FakeApiServer, str], tls: TLS
) -> None:
    fake, url = api_url
    path = kubeconfig(tmp_path, url, tls, {"token": "s3cret"})
    found = await discover(await connect(path, environ={}))
    assert found["resources"][0]["name"] == "services"
    assert fake.authorizations == ["Bearer s3cret"]


async def test_kubeconfig_env_and_home_are_found_in_that_order(
    tmp_path: Path, api_url: tuple[FakeApiServer, str], tls: TLS
) -> None:
    fake, url = api_url
    (tmp_path / "env").mkdir()
    (tmp_path / ".kube").mkdir()
    from_env = kubeconfig(tmp_path / "env", url, tls, {"token": "from-env"})
    kubeconfig(tmp_path / ".kube", url, tls, {"token": "from-home"}).rename(
        tmp_path / ".kube" / "config"
    )
    pod = {"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}
    await discover(await connect(environ={"KUBECONFIG": str(from_env), **pod}, home=tmp_path))
    await discover(await connect(environ={}, home=tmp_path))
    assert fake.authorizations == ["Bearer from-env", "Bearer from-home"]


async def test_an_exec_plugin_token_is_refreshed_when_it_expires(
    tmp_path: Path, api_url: tuple[FakeApiServer, str], tls: TLS
) -> None:
    fake, url = api_url
    plugin = {
        "apiVersion": "client.authentication.k8s.io/v1",
        "command": sys.executable,
        "args": ["-c", EXEC_PLUGIN, str(tmp_path / "count")],
    }
    path = kubeconfig(tmp_path, url, tls, {"exec": plugin})
    client = await connect(path, environ={}, refresh_seconds=0.0)
    assert client is not None
    try:
        await client.get_json("/api/v1")
        await client.get_json("/api/v1")
    finally:
        await client.close()
    # The first run is at load; each request then finds the token expired and runs it again.
    assert fake.authorizations == ["Bearer tok-2", "Bearer tok-3"]


async def test_in_a_pod_the_service_account_is_used(
    tmp_path: Path, api_url: tuple[FakeApiServer, str], tls: TLS
) -> None:
    fake, url = api_url
    (tmp_path / "token").write_text("pod-token")
    (tmp_path / "ca.crt").write_bytes(tls.ca.cert_pem.bytes())
    port = url.rpartition(":")[2]
    env = {"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": port}
    await discover(await connect(environ=env, home=tmp_path, service_account=tmp_path))
    assert fake.authorizations == ["Bearer pod-token"]


async def test_an_error_status_carries_the_api_servers_message(
    tmp_path: Path, api_url: tuple[FakeApiServer, str], tls: TLS
) -> None:
    fake, url = api_url
    client = await connect(kubeconfig(tmp_path, url, tls, {"token": "t"}), environ={})
    assert client is not None
    try:
        with pytest.raises(ApiError) as raised:
            await client.get_json("/apis/openbao.org/v1alpha1/openbaoclusters")
    finally:
        await client.close()
    assert (raised.value.status, str(raised.value)) == (
        404,
        "HTTP 404: the server could not find the requested resource",
    )
    assert fake.requests == ["/apis/openbao.org/v1alpha1/openbaoclusters"]

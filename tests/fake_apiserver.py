"""A fake Kubernetes API server the tests run over real HTTP(S) on loopback.

It speaks what the watch loop uses: discovery (a kind is served only once `install`ed),
lists with limit/continue and a resourceVersion, and watch streams of JSON lines with
BOOKMARK events. Tests make it expire resourceVersions (410 as HTTP or as an ERROR event),
drop connections, hold lists, go down (every connection reset), hide a kind (404 with its
objects kept) and leave open watches silent, to drive the loop through each path.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer

from webhook.cluster.client import Endpoint, KubeClient
from webhook.core.kinds import KINDS, GroupKind, KindInfo

# ("event", event) | ("drop", {}) | ("end", {}) | ("hang", {}): send nothing more, not even
# the end, whatever timeoutSeconds asked (a half-open connection)
Message = tuple[str, dict[str, Any]]


@dataclass
class _Resource:
    info: KindInfo
    version: str
    objects: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    events: list[tuple[int, dict[str, Any]]] = field(default_factory=list)
    compacted: int = 0  # a watch from a resourceVersion below this gets 410 Gone
    watchers: set[asyncio.Queue[Message]] = field(default_factory=set)

    @property
    def api_version(self) -> str:
        group = self.info.group_kind.group
        return f"{group}/{self.version}" if group else self.version


class FakeApiServer:
    def __init__(self, token: str | None = None, gone_as_http: bool = False) -> None:
        self.token = token
        self.gone_as_http = gone_as_http
        self.page_limit_cap: int | None = None
        self.watch_seconds_cap: float | None = None
        self.expire_next_continue = False
        self.held: set[GroupKind] = set()
        self.hidden: set[GroupKind] = set()
        self.down = False
        self.requests: list[str] = []
        self.authorizations: list[str] = []
        self._resources: dict[GroupKind, _Resource] = {}
        self._released = asyncio.Event()
        self._rv = 100
        # coordination.k8s.io/v1 Leases (edgeguard's hostname claims): create is atomic, an
        # update or delete may be conditioned on resourceVersion, as the real API server does.
        self.leases: dict[tuple[str, str], dict[str, Any]] = {}
        # Kinds whose watch events are held back until `flush()` (a lagging watch).
        self.delayed: set[GroupKind] = set()
        self._backlog: list[tuple[_Resource, dict[str, Any]]] = []
        self.lease_writes: list[tuple[str, str]] = []  # (method, name) of every write

    # What tests do to the cluster.

    def install(self, kind: GroupKind, version: str | None = None) -> None:
        info = KINDS[kind]
        self._resources[kind] = _Resource(info, version or info.versions[0])

    def install_all(self, *, without: frozenset[GroupKind] = frozenset()) -> None:
        for kind in KINDS:
            if kind not in without:
                self.install(kind)

    def uninstall(self, kind: GroupKind) -> None:
        resource = self._resources.pop(kind)
        self._send(resource, ("end", {}))

    def create(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        return self._write("ADDED", obj)

    def update(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        return self._write("MODIFIED", obj)

    def delete(self, kind: GroupKind, namespace: str, name: str) -> None:
        resource = self._resources[kind]
        old = resource.objects.pop((namespace, name))
        gone = {**old, "metadata": {**old["metadata"], "resourceVersion": self._next()}}
        self._emit(resource, "DELETED", gone)

    def forget(self, kind: GroupKind, namespace: str, name: str) -> None:
        """Delete without an event, as if it happened while the client was not watching."""
        del self._resources[kind].objects[(namespace, name)]
        self._next()

    def expire(self, kind: GroupKind) -> None:
        """Compact history: open watches get 410 (an ERROR event, or an end then HTTP 410)."""
        resource = self._resources[kind]
        resource.compacted = self._rv
        resource.events.clear()
        if self.gone_as_http:
            self._send(resource, ("end", {}))
        else:
            self._send(resource, ("event", _gone_event(resource.compacted)))

    def end_watches(self, kind: GroupKind) -> None:
        """End every open watch of the kind cleanly, as its timeoutSeconds would."""
        self._send(self._resources[kind], ("end", {}))

    def drop(self, kind: GroupKind) -> None:
        """Break every open watch of the kind without the end of its chunked body."""
        self._send(self._resources[kind], ("drop", {}))

    def bookmark(self, kind: GroupKind) -> str:
        resource = self._resources[kind]
        rv = self._next()
        meta = {"resourceVersion": rv}
        obj = {"apiVersion": resource.api_version, "kind": kind.kind, "metadata": meta}
        self._send(resource, ("event", {"type": "BOOKMARK", "object": obj}))
        return rv

    def silence(self, kind: GroupKind) -> None:
        """Open watches of the kind send nothing more and never end (new ones are served)."""
        self._send(self._resources[kind], ("hang", {}))

    def go_down(self) -> None:
        """An outage: open watches break and every request's connection is reset."""
        self.down = True
        for resource in self._resources.values():
            self._send(resource, ("drop", {}))

    def come_back(self) -> None:
        self.down = False

    def hide(self, kind: GroupKind) -> None:
        """Discovery, lists and watches answer 404 for the kind; its objects are kept."""
        self.hidden.add(kind)
        self._send(self._resources[kind], ("end", {}))

    def unhide(self, kind: GroupKind) -> None:
        self.hidden.discard(kind)

    def release(self) -> None:
        """Let held lists answer."""
        self.held.clear()
        self._released.set()

    def watching(self, kind: GroupKind) -> int:
        resource = self._resources.get(kind)
        return len(resource.watchers) if resource else 0

    def close(self) -> None:
        self.release()
        for resource in self._resources.values():
            self._send(resource, ("end", {}))

    # The HTTP side.

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/{version}", self._discovery)
        app.router.add_get("/apis/{group}/{version}", self._discovery)
        app.router.add_get("/api/{version}/{resource}", self._collection)
        app.router.add_get("/apis/{group}/{version}/{resource}", self._collection)
        leases = "/apis/coordination.k8s.io/v1/namespaces/{namespace}/leases"
        app.router.add_get(leases, self._lease_list)
        one = "/namespaces/{namespace}/{resource}/{name}"
        app.router.add_get("/apis/{group}/{version}" + one, self._object)
        app.router.add_get("/api/{version}" + one, self._object)
        app.router.add_get("/apis/{group}/{version}/namespaces/{namespace}/{resource}", self._in)
        # One cluster-scoped object (a GatewayClass, a Namespace).
        app.router.add_get("/apis/{group}/{version}/{resource}/{name}", self._object)
        app.router.add_get("/api/{version}/{resource}/{name}", self._object)
        app.router.add_post(leases, self._lease_create)
        app.router.add_get(leases + "/{name}", self._lease_get)
        app.router.add_put(leases + "/{name}", self._lease_update)
        app.router.add_delete(leases + "/{name}", self._lease_delete)
        return app

    async def _object(self, request: web.Request) -> web.Response:
        """GET of one object: what the API server stores now, whatever the watch delivered."""
        refused = self._record(request)
        if refused is not None:
            return refused
        resource = self._find(request)
        key = (request.match_info.get("namespace", ""), request.match_info["name"])
        found = resource.objects.get(key) if resource is not None else None
        if found is None:
            return _status(404, "NotFound", f'"{key[1]}" not found')
        return web.json_response(found)

    async def _in(self, request: web.Request) -> web.Response:
        """A list of one namespace's objects of a kind."""
        refused = self._record(request)
        if refused is not None:
            return refused
        resource = self._find(request)
        if resource is None:
            return _status(404, "NotFound", "the server could not find the requested resource")
        namespace = request.match_info["namespace"]
        items = [o for (ns, _), o in sorted(resource.objects.items()) if ns == namespace]
        return web.json_response(
            {"kind": "List", "metadata": {"resourceVersion": str(self._rv)}, "items": items}
        )

    def _lease_key(self, request: web.Request) -> tuple[str, str]:
        return request.match_info["namespace"], request.match_info.get("name", "")

    async def _lease_list(self, request: web.Request) -> web.Response:
        refused = self._record(request)
        if refused is not None:
            return refused
        namespace, _ = self._lease_key(request)
        label = request.query.get("labelSelector", "")
        items = [
            lease
            for (ns, _), lease in sorted(self.leases.items())
            if ns == namespace and (not label or label in lease["metadata"].get("labels", {}))
        ]
        meta = {"resourceVersion": str(self._rv)}
        body = {"kind": "LeaseList", "apiVersion": "coordination.k8s.io/v1", "metadata": meta}
        return web.json_response({**body, "items": items})

    async def _lease_create(self, request: web.Request) -> web.Response:
        refused = self._record(request)
        if refused is not None:
            return refused
        body = await request.json()
        namespace, _ = self._lease_key(request)
        name = body["metadata"]["name"]
        self.lease_writes.append(("POST", name))
        if (namespace, name) in self.leases:
            message = f'leases.coordination.k8s.io "{name}" already exists'
            return _status(409, "AlreadyExists", message)
        return web.json_response(self._store_lease(namespace, name, body), status=201)

    async def _lease_get(self, request: web.Request) -> web.Response:
        refused = self._record(request)
        if refused is not None:
            return refused
        found = self.leases.get(self._lease_key(request))
        if found is None:
            message = f'leases.coordination.k8s.io "{request.match_info["name"]}" not found'
            return _status(404, "NotFound", message)
        return web.json_response(found)

    async def _lease_update(self, request: web.Request) -> web.Response:
        refused = self._record(request)
        if refused is not None:
            return refused
        body = await request.json()
        key = self._lease_key(request)
        self.lease_writes.append(("PUT", key[1]))
        found = self.leases.get(key)
        if found is None:
            return _status(404, "NotFound", f'leases.coordination.k8s.io "{key[1]}" not found')
        wanted = body["metadata"].get("resourceVersion")
        if wanted is not None and wanted != found["metadata"]["resourceVersion"]:
            message = (
                f'Operation cannot be fulfilled on leases.coordination.k8s.io "{key[1]}": the '
                "object has been modified; please apply your changes to the latest version and "
                "try again"
            )
            return _status(409, "Conflict", message)
        return web.json_response(self._store_lease(*key, body))

    async def _lease_delete(self, request: web.Request) -> web.Response:
        refused = self._record(request)
        if refused is not None:
            return refused
        key = self._lease_key(request)
        self.lease_writes.append(("DELETE", key[1]))
        found = self.leases.get(key)
        if found is None:
            return _status(404, "NotFound", f'leases.coordination.k8s.io "{key[1]}" not found')
        raw = await request.read()
        options = json.loads(raw) if raw else {}
        wanted = (options.get("preconditions") or {}).get("resourceVersion")
        if wanted is not None and wanted != found["metadata"]["resourceVersion"]:
            return _status(409, "Conflict", "Precondition failed: resourceVersion changed")
        del self.leases[key]
        return web.json_response(_status_body(200, "", "deleted") | {"status": "Success"})

    def _store_lease(self, namespace: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        meta = {**body["metadata"], "namespace": namespace, "resourceVersion": self._next()}
        meta.setdefault("creationTimestamp", "2026-12-03T00:00:00Z")
        stored = {**body, "metadata": meta}
        self.leases[(namespace, name)] = stored
        return stored

    async def _discovery(self, request: web.Request) -> web.Response:
        refused = self._record(request)
        if refused is not None:
            return refused
        group, version = request.match_info.get("group", ""), request.match_info["version"]
        served = [r for r in self._resources.values() if (r.info.group_kind.group, r.version)
                  == (group, version) and r.info.group_kind not in self.hidden]  # fmt: skip
        if not served:
            return _status(404, "NotFound", "the server could not find the requested resource")
        resources = [
            {
                "name": r.info.resource,
                "singularName": "",
                "namespaced": r.info.namespaced,
                "kind": r.info.group_kind.kind,
                "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
            }
            for r in served
        ]
        body = {"kind": "APIResourceList", "apiVersion": "v1", "resources": resources}
        body["groupVersion"] = f"{group}/{version}" if group else version
        return web.json_response(body)

    async def _collection(self, request: web.Request) -> web.StreamResponse:
        refused = self._record(request)
        if refused is not None:
            return refused
        resource = self._find(request)
        if resource is None:
            return _status(404, "NotFound", "the server could not find the requested resource")
        if request.query.get("watch") in ("true", "1"):
            return await self._watch(request, resource)
        while resource.info.group_kind in self.held:
            self._released.clear()
            await self._released.wait()
        return self._list(request, resource)

    def _list(self, request: web.Request, resource: _Resource) -> web.Response:
        limit = int(request.query.get("limit", "0")) or 10**9
        limit = min(limit, self.page_limit_cap or limit)
        token = request.query.get("continue")
        rv, offset = int(self._rv), 0
        if token:
            rv, offset = json.loads(base64.b64decode(token))
            if self.expire_next_continue or rv < resource.compacted:
                self.expire_next_continue = False
                return _status(410, "Expired", "The provided continue parameter is too old")
        ordered = [resource.objects[k] for k in sorted(resource.objects)]
        page = ordered[offset : offset + limit]
        meta: dict[str, Any] = {"resourceVersion": str(rv)}
        if offset + limit < len(ordered):
            meta["continue"] = base64.b64encode(json.dumps([rv, offset + limit]).encode()).decode()
        items = [{k: v for k, v in obj.items() if k not in ("apiVersion", "kind")} for obj in page]
        kind = f"{resource.info.group_kind.kind}List"
        body = {"apiVersion": resource.api_version, "kind": kind, "metadata": meta, "items": items}
        return web.json_response(body)

    async def _watch(self, request: web.Request, resource: _Resource) -> web.StreamResponse:
        since = int(request.query.get("resourceVersion") or "0")
        if since < resource.compacted:
            if self.gone_as_http:
                return _status(410, "Expired", f"too old resource version: {since}")
            response = await _stream(request)
            await response.write(_line(_gone_event(resource.compacted)))
            await response.write_eof()
            return response
        queue: asyncio.Queue[Message] = asyncio.Queue()
        held = {id(event) for held_at, event in self._backlog if held_at is resource}
        for rv, event in resource.events:
            if rv > since and id(event) not in held:  # a lagging watch replays no held event
                queue.put_nowait(("event", event))
        bookmarks = request.query.get("allowWatchBookmarks") == "true"
        seconds = float(request.query.get("timeoutSeconds", "1800"))
        seconds = min(seconds, self.watch_seconds_cap or seconds)
        resource.watchers.add(queue)
        response = await _stream(request)
        hung = False
        try:
            async with asyncio.timeout(seconds) as deadline:
                while (message := await queue.get())[0] in ("event", "hang"):
                    if message[0] == "hang":
                        hung = True
                        deadline.reschedule(None)
                    elif not hung and (message[1]["type"] != "BOOKMARK" or bookmarks):
                        await response.write(_line(message[1]))
        except TimeoutError:
            message = ("end", {})
        finally:
            resource.watchers.discard(queue)
        transport = request.transport
        if transport is None or transport.is_closing():
            return response  # the client gave up on it (a silent watch it closed)
        if message[0] == "drop":
            transport.abort()
            raise asyncio.CancelledError  # aiohttp then skips the end of the chunked body
        await response.write_eof()
        return response

    def _record(self, request: web.Request) -> web.Response | None:
        if self.down and request.transport is not None:
            request.transport.abort()
            raise asyncio.CancelledError  # the connection reset, no answer
        self.requests.append(request.path_qs)
        self.authorizations.append(request.headers.get("Authorization", ""))
        if self.token is not None and request.headers.get("Authorization") != (
            f"Bearer {self.token}"
        ):
            return _status(401, "Unauthorized", "Unauthorized")
        return None

    def _find(self, request: web.Request) -> _Resource | None:
        group = request.match_info.get("group", "")
        version, name = request.match_info["version"], request.match_info["resource"]
        for resource in self._resources.values():
            info = resource.info
            if info.group_kind in self.hidden:
                continue
            if (info.group_kind.group, resource.version, info.resource) == (group, version, name):
                return resource
        return None

    def _write(self, kind_of_event: str, obj: Mapping[str, Any]) -> dict[str, Any]:
        resource = self._resource_of(obj)
        meta = dict(obj["metadata"])
        meta["resourceVersion"] = self._next()
        meta.setdefault("uid", f"uid-{meta['name']}")
        stored = {**obj, "metadata": meta}
        resource.objects[(meta.get("namespace", ""), meta["name"])] = stored
        self._emit(resource, kind_of_event, stored)
        return stored

    def _resource_of(self, obj: Mapping[str, Any]) -> _Resource:
        group = str(obj["apiVersion"]).rpartition("/")[0]
        return self._resources[GroupKind(group, str(obj["kind"]))]

    def _emit(self, resource: _Resource, kind_of_event: str, obj: dict[str, Any]) -> None:
        event = {"type": kind_of_event, "object": obj}
        resource.events.append((int(obj["metadata"]["resourceVersion"]), event))
        if resource.info.group_kind in self.delayed:
            self._backlog.append((resource, event))
            return
        self._send(resource, ("event", event))

    def flush(self) -> None:
        """Deliver the held-back watch events, in order."""
        self.delayed.clear()
        backlog, self._backlog = self._backlog, []
        for resource, event in backlog:
            self._send(resource, ("event", event))

    def _send(self, resource: _Resource, message: Message) -> None:
        for queue in resource.watchers:
            queue.put_nowait(message)

    def _next(self) -> str:
        self._rv += 1
        return str(self._rv)


async def _stream(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/json"})
    response.enable_chunked_encoding()
    await response.prepare(request)
    return response


def _line(event: Mapping[str, Any]) -> bytes:
    return json.dumps(event).encode() + b"\n"


def _gone_event(rv: int) -> dict[str, Any]:
    message = f"too old resource version: {rv - 1} ({rv})"
    return {"type": "ERROR", "object": _status_body(410, "Expired", message)}


def _status(code: int, reason: str, message: str) -> web.Response:
    return web.json_response(_status_body(code, reason, message), status=code)


def _status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }


def tls_route(
    name: str, *hostnames: str, namespace: str = "apps", gateway: str = "edge"
) -> dict[str, Any]:
    """A TLSRoute claiming hostnames on the edge/<gateway> Gateway."""
    return {
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "TLSRoute",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "parentRefs": [{"name": gateway, "namespace": "edge"}],
            "hostnames": list(hostnames),
            "rules": [{"backendRefs": [{"name": name, "port": 8443}]}],
        },
    }


def client_for(server: TestServer, token: str) -> KubeClient:
    """A KubeClient to a fake API server started with `aiohttp_server`, with its bearer token."""

    async def headers() -> dict[str, str]:
        return {"Authorization": f"Bearer {token}"}

    return KubeClient(Endpoint(str(server.make_url("/")).rstrip("/"), True), headers)


async def eventually(check: Callable[[], object], seconds: float = 10.0) -> None:
    """Waits until check() is truthy: the loop under test runs in other tasks (generous: a
    shared CI machine may be slow, and a passing check returns at once)."""
    async with asyncio.timeout(seconds):
        while not check():
            await asyncio.sleep(0.005)


# The class of EDGE_GATEWAY, accepted by its controller (edge-readiness reads it).
EDGE_CLASS: dict[str, Any] = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "GatewayClass",
    "metadata": {"name": "edge"},
    "spec": {"controllerName": "example.net/edge-controller"},
    "status": {
        "conditions": [
            {
                "type": "Accepted",
                "status": "True",
                "reason": "Accepted",
                "message": "",
                "lastTransitionTime": "2026-08-20T09:00:00Z",
            }
        ]
    },
}
# A Gateway with one TLS Passthrough listener open to every namespace, for tests of the view.
EDGE_GATEWAY: dict[str, Any] = {
    "apiVersion": "gateway.networking.k8s.io/v1",
    "kind": "Gateway",
    "metadata": {"name": "edge", "namespace": "edge"},
    "spec": {
        "gatewayClassName": "edge",
        "listeners": [
            {
                "name": "tls",
                "protocol": "TLS",
                "port": 443,
                "tls": {"mode": "Passthrough"},
                "allowedRoutes": {"namespaces": {"from": "All"}},
            }
        ],
    },
}

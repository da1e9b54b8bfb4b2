"""Properties of the attachment topology: kept current on every write as if built afresh,
verdicts independent of the order objects arrived in, hostnames compared as DNS names.

Hypothesis runs derandomized (a fixed sequence of examples), so a failure in CI reproduces
locally with the same command.
"""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from policies.gateway.topology import Topology
from policies.unique_hostnames import POLICY as UNIQUE
from tests.support import make_view
from webhook.core.objects import key_of
from webhook.core.review import Review

GW = "gateway.networking.k8s.io/v1"
NAMESPACES = ("apps", "infra")
HOSTS = ("a.example.com", "b.example.com", "*.example.com", "*.b.example.com", "x.test")
CHECKED = settings(derandomize=True, max_examples=150, deadline=None, database=None)


def gateway(name: str, listeners: list[dict[str, Any]], sets_from: str) -> dict[str, Any]:
    return {
        "apiVersion": GW,
        "kind": "Gateway",
        "metadata": {"name": name, "namespace": "infra"},
        "spec": {
            "gatewayClassName": "example",
            "listeners": listeners,
            "allowedListeners": {"namespaces": {"from": sets_from}},
        },
    }


listeners = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(["l1", "l2", "l3"]),
            "protocol": st.sampled_from(["TLS", "HTTPS", "HTTP"]),
            "port": st.sampled_from([443, 8443]),
        },
        optional={
            "hostname": st.sampled_from(HOSTS),
            "tls": st.fixed_dictionaries({"mode": st.sampled_from(["Passthrough", "Terminate"])}),
            "allowedRoutes": st.fixed_dictionaries(
                {"namespaces": st.fixed_dictionaries({"from": st.sampled_from(["All", "Same"])})}
            ),
        },
    ),
    max_size=3,
    unique_by=lambda item: item["name"],
)

gateways = st.builds(
    gateway, st.sampled_from(["g1", "g2"]), listeners, st.sampled_from(["None", "All", "Same"])
)

listener_sets = st.builds(
    lambda name, ns, parent, items: {
        "apiVersion": GW,
        "kind": "ListenerSet",
        "metadata": {"name": name, "namespace": ns},
        "spec": {"parentRef": {"name": parent, "namespace": "infra"}, "listeners": items},
    },
    st.sampled_from(["s1", "s2"]),
    st.sampled_from(NAMESPACES),
    st.sampled_from(["g1", "g2"]),
    listeners,
)

parent_refs = st.lists(
    st.one_of(
        st.fixed_dictionaries(
            {"name": st.sampled_from(["g1", "g2"]), "namespace": st.just("infra")},
            optional={"sectionName": st.sampled_from(["l1", "l2"]), "port": st.just(443)},
        ),
        st.fixed_dictionaries(
            {
                "kind": st.just("ListenerSet"),
                "name": st.sampled_from(["s1", "s2"]),
                "namespace": st.sampled_from(NAMESPACES),
            }
        ),
    ),
    min_size=1,
    max_size=2,
)

routes = st.builds(
    lambda kind, name, ns, hosts, parents: {
        "apiVersion": GW,
        "kind": kind,
        "metadata": {"name": name, "namespace": ns},
        "spec": {"hostnames": hosts, "parentRefs": parents},
    },
    st.sampled_from(["TLSRoute", "HTTPRoute"]),
    st.sampled_from(["r1", "r2", "r3", "r4"]),
    st.sampled_from(NAMESPACES),
    st.lists(st.sampled_from(HOSTS), max_size=2, unique=True),
    parent_refs,
)

namespaces = st.builds(
    lambda name, team: {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"team": team}},
    },
    st.sampled_from(NAMESPACES),
    st.sampled_from(["web", "data"]),
)

objects = st.one_of(gateways, listener_sets, routes, namespaces)
operations = st.lists(st.tuples(st.sampled_from(["upsert", "delete"]), objects), max_size=25)


@CHECKED
@given(operations)
def test_the_index_kept_current_equals_one_built_from_the_final_objects(
    ops: list[tuple[str, dict[str, Any]]],
) -> None:
    live = make_view()
    final: dict[Any, dict[str, Any]] = {}
    for op, obj in ops:
        key = key_of(obj)
        assert key is not None
        if op == "upsert":
            live.upsert(obj)
            final[key] = obj
        else:
            live.delete(key.group_kind, key.namespace, key.name)
            final.pop(key, None)
    fresh = make_view(final.values())
    assert live.derived(Topology).snapshot() == fresh.derived(Topology).snapshot()


def verdict(cluster: list[dict[str, Any]], request: dict[str, Any]) -> tuple[Any, ...]:
    decision = UNIQUE(Review.from_manifest(request), make_view(cluster), {})
    return decision.allowed, sorted(decision.messages), sorted(decision.warnings)


@CHECKED
@given(st.lists(st.one_of(gateways, listener_sets, routes), max_size=5), routes)
def test_verdicts_do_not_depend_on_the_order_objects_arrived_in(
    cluster: list[dict[str, Any]], request: dict[str, Any]
) -> None:
    expected = verdict(cluster, request)
    for order in itertools.islice(itertools.permutations(cluster), 1, 6):
        assert verdict(list(order), request) == expected


def shouted(obj: dict[str, Any]) -> dict[str, Any]:
    """The same object with every hostname upper-cased and given a trailing dot."""
    spec = dict(obj["spec"])
    if "hostnames" in spec:
        spec["hostnames"] = [h.upper() + "." for h in spec["hostnames"]]
    return {**obj, "spec": spec}


@CHECKED
@given(gateways, st.lists(routes, max_size=3), routes)
def test_hostnames_compare_as_dns_names(
    gw: dict[str, Any], cluster: list[dict[str, Any]], request: dict[str, Any]
) -> None:
    plain = verdict([gw, *cluster], request)
    loud = UNIQUE(
        Review.from_manifest(shouted(request)), make_view([gw, *map(shouted, cluster)]), {}
    )
    assert loud.allowed == plain[0]
    assert (len(loud.messages), len(loud.warnings)) == (len(plain[1]), len(plain[2]))

# ruff: noqa: E501  (the expectation tables keep one row per line, as the .go files name them)
"""Gateway API's own conformance manifests through `edgeguard review`, with the shipped defaults.

../shared/data/gateway-api/conformance holds the manifests at the commit SOURCES.md names; each
file is reviewed on top of its shared base (base-manifests.yaml, or mesh-manifests.yaml for the
mesh tests), as the conformance suite applies them. What each test expects is read from the
matching `conformance/tests/*.go` upstream (kubernetes.HTTPRouteMustHaveCondition,
RouteMustHaveParents, GatewayAndRoutesMustBeAccepted, listener ResolvedRefs conditions):

- every valid setup is admitted, except the TLSRoutes that attach only to a terminating TLS
  listener, which the default `allowTLSRouteTerminate: false` exists to refuse;
- each parentRef the .go expects not to be Accepted gets route-references' warning with that
  reason, and each reference it expects `ResolvedRefs: False, RefNotPermitted` or
  `InvalidKind` gets that one — and nothing else is reported with a Gateway API reason.

BackendNotFound (a backend Service that does not exist) is out of edgeguard's scope: a route
may be applied before its Service, and Services are not admitted here.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

import policies
from policies.gateway.indexes import INDEXES
from tests.support import SHARED_DATA
from webhook.core.config import Config
from webhook.engine import Engine
from webhook.offline.run import Run, review
from webhook.yamlio.manifests import load

CONFORMANCE = SHARED_DATA / "gateway-api" / "conformance"
FILES = sorted((CONFORMANCE / "tests").glob("*.yaml")) + sorted(
    (CONFORMANCE / "tests-mesh").glob("*.yaml")
)
INFRA = "gateway-conformance-infra"

# The TLSRoutes on terminating listeners (TLSRouteTerminateSimpleSameNamespace,
# TLSRouteMixedTerminationSameNamespace, BackendTLSPolicyTLSRouteTerminate): tls-passthrough.
DENIED = {
    (
        "backendtlspolicy-tlsroute-terminate.yaml",
        f"TLSRoute {INFRA}/backendtlspolicy-tlsroute-terminate",
    ),
    (
        "tlsroute-mixed-termination-same-namespace.yaml",
        f"TLSRoute {INFRA}/gateway-conformance-mixed-terminateroute",
    ),
    ("tlsroute-terminate-simple-same-namespace.yaml", f"TLSRoute {INFRA}/tlsroute-terminated-test"),
}

# (file, object, field, reason) as the .go files assert them.
REASONS = {
    ("gateway-with-attached-routes.yaml", f"HTTPRoute {INFRA}/http-route-not-accepted", "spec.parentRefs[0]", "NoMatchingListenerHostname"),
    ("httproute-disallowed-kind.yaml", f"HTTPRoute {INFRA}/disallowed-kind", "spec.parentRefs[0]", "NotAllowedByListeners"),
    ("httproute-hostname-intersection.yaml", f"HTTPRoute {INFRA}/no-intersecting-hosts", "spec.parentRefs[0]", "NoMatchingListenerHostname"),
    ("httproute-invalid-backendref-unknown-kind.yaml", f"HTTPRoute {INFRA}/invalid-backend-ref-unknown-kind", "spec.rules[0].backendRefs[0]", "InvalidKind"),
    ("httproute-invalid-cross-namespace-backend-ref.yaml", f"HTTPRoute {INFRA}/invalid-cross-namespace-backend-ref", "spec.rules[0].backendRefs[0]", "RefNotPermitted"),
    ("httproute-invalid-cross-namespace-parent-ref.yaml", "HTTPRoute gateway-conformance-web-backend/invalid-cross-namespace-parent-ref", "spec.parentRefs[0]", "NotAllowedByListeners"),
    ("httproute-invalid-parentref-not-matching-listener-port.yaml", f"HTTPRoute {INFRA}/httproute-listener-not-matching-route-port", "spec.parentRefs[0]", "NoMatchingParent"),
    ("httproute-invalid-parentref-not-matching-section-name.yaml", f"HTTPRoute {INFRA}/httproute-listener-not-matching-section-name", "spec.parentRefs[0]", "NoMatchingParent"),
    ("httproute-invalid-parentref-section-name-not-matching-port.yaml", f"HTTPRoute {INFRA}/httproute-listener-section-name-not-matching-port", "spec.parentRefs[0]", "NoMatchingParent"),
    ("httproute-invalid-reference-grant.yaml", f"HTTPRoute {INFRA}/reference-grant", "spec.rules[0].backendRefs[0]", "RefNotPermitted"),
    ("httproute-partially-invalid-via-invalid-reference-grant.yaml", f"HTTPRoute {INFRA}/invalid-reference-grant", "spec.rules[0].backendRefs[0]", "RefNotPermitted"),
    ("listenerset-allowed-routes-namespaces.yaml", f"HTTPRoute {INFRA}/route-in-gateway-namespace", "spec.parentRefs[0]", "NotAllowedByListeners"),
    ("listenerset-dual-parentref-independence.yaml", f"HTTPRoute {INFRA}/route-dual-parentref-one", "spec.parentRefs[0]", "NoMatchingParent"),
    ("listenerset-gateway-parent-section-name-not-found.yaml", f"HTTPRoute {INFRA}/route-via-gateway", "spec.parentRefs[0]", "NoMatchingParent"),
    ("tcproute-invalid-cross-namespace-backend-ref.yaml", f"TCPRoute {INFRA}/tcp-invalid-cross-namespace-backend-ref", "spec.rules[0].backendRefs[0]", "RefNotPermitted"),
    ("tcproute-invalid-non-tcp-listener.yaml", f"TCPRoute {INFRA}/tcp-route", "spec.parentRefs[0]", "NotAllowedByListeners"),
    ("tlsroute-invalid-backendref-unknown-kind.yaml", f"TLSRoute {INFRA}/invalid-backend-ref-unknown-kind", "spec.rules[0].backendRefs[0]", "InvalidKind"),
    ("tlsroute-invalid-no-matching-listener-hostname.yaml", f"TLSRoute {INFRA}/tlsroute-hostname-mismatch-1", "spec.parentRefs[0]", "NoMatchingListenerHostname"),
    ("tlsroute-invalid-no-matching-listener-hostname.yaml", f"TLSRoute {INFRA}/tlsroute-hostname-mismatch-2", "spec.parentRefs[0]", "NoMatchingListenerHostname"),
    ("tlsroute-invalid-no-matching-listener.yaml", f"TLSRoute {INFRA}/tlsroute-not-allowed-protocol-http", "spec.parentRefs[0]", "NotAllowedByListeners"),
    ("tlsroute-invalid-no-matching-listener.yaml", f"TLSRoute {INFRA}/tlsroute-not-allowed-protocol-https", "spec.parentRefs[0]", "NotAllowedByListeners"),
    ("tlsroute-invalid-no-matching-listener.yaml", f"TLSRoute {INFRA}/tlsroute-no-matching-section-name", "spec.parentRefs[0]", "NoMatchingParent"),
    ("tlsroute-invalid-reference-grant.yaml", f"TLSRoute {INFRA}/gateway-conformance-infra-test", "spec.rules[0].backendRefs[0]", "RefNotPermitted"),
    ("udproute-invalid-cross-namespace-backend-ref.yaml", f"UDPRoute {INFRA}/udp-route-invalid-cross-namespace-backend-ref", "spec.rules[0].backendRefs[0]", "RefNotPermitted"),
    ("udproute-not-allowed-by-listeners.yaml", f"UDPRoute {INFRA}/udproute-not-allowed-by-listeners", "spec.parentRefs[0]", "NotAllowedByListeners"),
    # Listener ResolvedRefs: False, RefNotPermitted (certificate and CA references).
    ("gateway-invalid-tls-backend-configuration.yaml", f"Gateway {INFRA}/gateway-client-certificate-missing-reference-grant", "spec.tls.backend.clientCertificateRef", "RefNotPermitted"),
    ("gateway-secret-invalid-reference-grant.yaml", f"Gateway {INFRA}/gateway-secret-invalid-reference-grant", "spec.listeners[0].tls.certificateRefs[0]", "RefNotPermitted"),
    ("gateway-secret-missing-reference-grant.yaml", f"Gateway {INFRA}/gateway-secret-missing-reference-grant", "spec.listeners[0].tls.certificateRefs[0]", "RefNotPermitted"),
    ("gateway-with-invalid-clientcertificate-validation.yaml", f"Gateway {INFRA}/gateway-with-invalid-client-cert-validation", "spec.tls.frontend.perPort[2].tls.validation.caCertificateRefs[0]", "RefNotPermitted"),
    ("listenerset-reference-grant.yaml", "ListenerSet gateway-api-listener-sets-test-reference-grant-ns/listenerset-without-reference-grant", "spec.listeners[0].tls.certificateRefs[0]", "RefNotPermitted"),
}  # fmt: skip

REASON = re.compile(
    r"^(?P<field>spec\.[^ :]+)(?: \([^)]*\))?: (?P<reason>NoMatchingParent|NotAllowedByListeners|"
    r"NoMatchingListenerHostname|RefNotPermitted|InvalidKind):"
)


@cache
def reviewed(path: Path) -> Run:
    base = "mesh-manifests.yaml" if path.parent.name == "tests-mesh" else "base-manifests.yaml"
    shipped = policies.builtin()
    engine = Engine(shipped, Config.defaults(shipped))
    cluster = load([str(CONFORMANCE / base)])
    return review(engine, load([str(path)]), cluster=cluster, derive=INDEXES)


def test_all_manifests_are_here() -> None:
    assert (len(FILES), len(list((CONFORMANCE / "tests-mesh").glob("*.yaml")))) == (161, 21)


def test_only_tlsroutes_on_terminating_listeners_are_denied() -> None:
    denied = {
        (path.name, report.title)
        for path in FILES
        for report in reviewed(path).objects
        if not report.allowed
    }
    assert denied == DENIED


def test_the_broken_setups_get_the_reasons_their_tests_expect() -> None:
    found = set()
    for path in FILES:
        for report in reviewed(path).objects:
            for verdict in report.verdicts:
                for message in verdict.messages if verdict.policy == "route-references" else ():
                    match = REASON.match(message)
                    assert match, message
                    found.add((path.name, report.title, match["field"], match["reason"]))
    assert found == REASONS


@pytest.mark.parametrize(
    ("name", "title", "text"),
    [
        (
            "tlsroute-mixed-termination-same-namespace.yaml",
            f"TLSRoute {INFRA}/gateway-conformance-mixed-terminateroute",
            "spec.parentRefs[0]: Gateway gateway-conformance-infra/"
            "gateway-tlsroute-mixed-termination would route it through listener 'tls-terminate' "
            "(TLS/Terminate), none with protocol: TLS and tls.mode: Passthrough (listener "
            "'tls-passthrough' (TLS/Passthrough) has hostname abc.example.com, which the object's "
            "hostnames do not match); TLS termination for TLSRoutes is off (setting "
            "allowTLSRouteTerminate: false). Point spec.parentRefs[0].sectionName at a listener "
            "with protocol: TLS and tls.mode: Passthrough, or make that listener pass TLS through",
        ),
    ],
)
def test_a_route_is_judged_on_the_listener_its_hostname_lands_on(
    name: str, title: str, text: str
) -> None:
    (report,) = [r for r in reviewed(CONFORMANCE / "tests" / name).objects if r.title == title]
    assert [m for v in report.verdicts if v.policy == "tls-passthrough" for m in v.messages] == [
        text
    ]

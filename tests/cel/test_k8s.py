"""webhook.cel.k8s through the CEL environment: each Kubernetes library, values and errors."""

from __future__ import annotations

import pytest

from webhook.cel.runtime import CelError, CelEvalError, Environment

ENV = Environment(["object"])
ACTIVATION = ENV.activation({"object": {"items": [3, 1, 2], "name": "web-1", "n": 2}})

DNS1123_LABEL_ERROR = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and"
    " must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex"
    " used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
)
QUALIFIED_NAME_ERROR = (
    "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end"
    " with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used"
    " for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"
)


def evaluate(expr: str) -> object:
    return ENV.compile(expr).evaluate(ACTIVATION)


CASES: list[tuple[str, object]] = [
    # lists
    ("[1, 2, 2, 3].isSorted()", True),
    ("object.items.isSorted()", False),
    ("['a', 'b'].isSorted()", True),
    ("[].isSorted()", True),
    ("[1, 2, 3].sum()", 6),
    ("[1.5, 2.0].sum()", 3.5),
    ("[].sum()", 0),
    ("object.items.min()", 1),
    ("object.items.max()", 3),
    ("['b', 'a'].min()", "a"),
    ("[1, 2, 1].indexOf(1)", 0),
    ("[1, 2, 1].lastIndexOf(1)", 2),
    ("[1, 2].indexOf(5)", -1),
    ("['a', 'b'].indexOf('b')", 1),
    ("[[1], [2]].indexOf([2])", 1),
    ("[true, 1].indexOf(1)", 1),
    ("object.items.indexOf(object.n)", 2),
    ("'abcb'.indexOf('b')", 1),
    # regex
    ("'abc 123'.find('[0-9]+')", "123"),
    ("'abc'.find('[0-9]+')", ""),
    ("'123 abc 456'.findAll('[0-9]+')", ["123", "456"]),
    ("'123 abc 456'.findAll('[0-9]+', 1)", ["123"]),
    ("'123 abc 456'.findAll('[0-9]+', 0)", []),
    ("'123 abc 456'.findAll('[0-9]+', -1)", ["123", "456"]),
    ("'abc'.findAll('b*')", ["", "b", ""]),
    # url
    ("url('https://example.com:80/').getHost()", "example.com:80"),
    ("url('https://example.com:80/').getHostname()", "example.com"),
    ("url('https://example.com:80/').getPort()", "80"),
    ("url('https://example.com/').getPort()", ""),
    ("url('https://[::1]:80/').getHostname()", "::1"),
    ("url('https://[::1]:80/').getHost()", "[::1]:80"),
    ("url('HTTPS://example.com/').getScheme()", "https"),
    ("url('/path').getScheme()", ""),
    ("url('/path').getHost()", ""),
    ("url('https://example.com/path with spaces/').getEscapedPath()", "/path%20with%20spaces/"),
    ("url('https://example.com/p?k1=a&k2=b&k2=c').getQuery()", {"k1": ["a"], "k2": ["b", "c"]}),
    ("url('https://example.com').getQuery()", {}),
    ("isURL('https://example.com/')", True),
    ("isURL('/absolute/path')", True),
    ("isURL('example.com')", False),
    ("isURL('https://example.com:port/')", False),
    ("isURL('')", False),
    # ip
    ("ip('192.168.0.1').family()", 4),
    ("ip('::1').family()", 6),
    ("isIP('10.0.0.1')", True),
    ("isIP('10.0.0.01')", False),
    ("isIP('fe80::1%eth0')", False),
    ("isIP('::ffff:1.2.3.4')", False),
    ("isIP('example.com')", False),
    ("ip('0.0.0.0').isUnspecified()", True),
    ("ip('127.0.0.2').isLoopback()", True),
    ("ip('::1').isLoopback()", True),
    ("ip('224.0.0.1').isLinkLocalMulticast()", True),
    ("ip('224.0.1.1').isLinkLocalMulticast()", False),
    ("ip('ff02::1').isLinkLocalMulticast()", True),
    ("ip('169.254.1.1').isLinkLocalUnicast()", True),
    ("ip('fe80::1').isLinkLocalUnicast()", True),
    ("ip('10.0.0.1').isGlobalUnicast()", True),
    ("ip('8.8.8.8').isGlobalUnicast()", True),
    ("ip('255.255.255.255').isGlobalUnicast()", False),
    ("ip('127.0.0.1').isGlobalUnicast()", False),
    ("string(ip('2001:0db8:0000::0001'))", "2001:db8::1"),
    ("ip('::1') == ip('0:0::1')", True),
    # cidr
    ("cidr('10.0.0.0/8').containsIP(ip('10.1.2.3'))", True),
    ("cidr('10.0.0.0/8').containsIP('11.0.0.1')", False),
    ("cidr('::/0').containsIP('10.0.0.1')", False),
    ("cidr('10.0.0.0/8').containsCIDR(cidr('10.1.0.0/16'))", True),
    ("cidr('10.0.0.0/8').containsCIDR('10.0.0.0/7')", False),
    ("cidr('192.168.0.1/24').ip() == ip('192.168.0.1')", True),
    ("string(cidr('192.168.0.1/24'))", "192.168.0.1/24"),
    ("string(cidr('192.168.0.1/24').masked())", "192.168.0.0/24"),
    ("cidr('2001:db8::/32').prefixLength()", 32),
    ("isCIDR('10.0.0.0/8')", True),
    ("isCIDR('10.0.0.0/33')", False),
    ("isCIDR('10.0.0.0/08')", False),
    ("isCIDR('10.0.0.0')", False),
    # quantity
    ("quantity('1Gi').asInteger()", 1073741824),
    ("quantity('1.5k').asInteger()", 1500),
    ("quantity('1e3').asInteger()", 1000),
    ("quantity('500m').isInteger()", False),
    ("quantity('500m').asApproximateFloat()", 0.5),
    ("quantity('-5').sign()", -1),
    ("quantity('0').sign()", 0),
    ("quantity('1') == quantity('1000m')", True),
    ("quantity('1Gi').add(quantity('512Mi')).asInteger()", 1610612736),
    ("quantity('1').add(2).asInteger()", 3),
    ("quantity('1').sub(quantity('1500m')).asApproximateFloat()", -0.5),
    ("quantity('1').sub(1).sign()", 0),
    ("quantity('1Mi').compareTo(quantity('1M'))", 1),
    ("quantity('1M').isLessThan(quantity('1Mi'))", True),
    ("quantity('1M').isGreaterThan(quantity('1Mi'))", False),
    ("quantity('0.0000000001') == quantity('1n')", True),
    ("isQuantity('1.5Gi')", True),
    ("isQuantity('.5')", True),
    ("isQuantity('1Gb')", False),
    ("isQuantity('')", False),
    ("isQuantity('.')", False),
    # semver
    ("semver('1.2.3').major()", 1),
    ("semver('1.2.3').minor()", 2),
    ("semver('1.2.3-rc.1+build.5').patch()", 3),
    ("semver('1.2.3').isLessThan(semver('1.10.0'))", True),
    ("semver('1.0.0-alpha').compareTo(semver('1.0.0'))", -1),
    ("semver('1.0.0-alpha.2').compareTo(semver('1.0.0-alpha.10'))", -1),
    ("semver('1.0.0-alpha.beta').isGreaterThan(semver('1.0.0-alpha.1'))", True),
    ("semver('1.0.0+a') == semver('1.0.0+b')", True),
    ("isSemver('1.2.3')", True),
    ("isSemver('v1.2.3')", False),
    ("isSemver('01.2.3')", False),
    ("isSemver('1.2')", False),
    # format
    ("format.dns1123Label().validate('my-label-name')", []),
    ("format.dns1123Label().validate('contains a space')", [DNS1123_LABEL_ERROR]),
    (f"format.dns1123Label().validate('{'a' * 64}')", ["must be no more than 63 characters"]),
    ("format.dns1123Subdomain().validate('apiextensions.k8s.io')", []),
    ("format.qualifiedName().validate('apiextensions.k8s.io/v1beta1')", []),
    ("format.qualifiedName().validate('contains a space')", [QUALIFIED_NAME_ERROR]),
    ("format.qualifiedName().validate('/name')", ["prefix part must be non-empty"]),
    ("format.dns1123LabelPrefix().validate('my-label-prefix-')", []),
    ("format.dns1123SubdomainPrefix().validate('mysubdomain.prefix.-')", []),
    ("format.dns1035LabelPrefix().validate('my-label-prefix-')", []),
    ("format.dns1035Label().validate('1abc').size()", 1),
    ("format.labelValue().validate('')", []),
    ("format.labelValue().validate('my-cool-label-Value')", []),
    ("format.uri().validate('http://example.com')", []),
    ("format.uri().validate('example.com')", ["invalid URI"]),
    ("format.uuid().validate('123e4567-e89b-12d3-a456-426614174000')", []),
    ("format.uuid().validate('123')", ["invalid UUID"]),
    ("format.byte().validate('aGVsbG8=')", []),
    ("format.byte().validate('aGVsbG8')", ["invalid base64"]),
    ("format.date().validate('2021-01-01')", []),
    ("format.date().validate('2020-01-32')", ["invalid date"]),
    ("format.datetime().validate('2020-01-01T00:00:00Z')", []),
    ("format.datetime().validate('2020-01-32T00:00:00Z')", ["invalid datetime"]),
    ("format.named('dns1123Label') == format.dns1123Label()", True),
    ("format.dns1123Label() == format.dns1035Label()", False),
    ("format.dns1123Label().validate(object.name).size() == 0", True),
]


@pytest.mark.parametrize(("expr", "expected"), CASES)
def test_library_values(expr: str, expected: object) -> None:
    assert evaluate(expr) == expected


ERRORS: list[tuple[str, str]] = [
    ("[].min()", "OUT_OF_RANGE: min called on empty list"),
    ("[].max()", "OUT_OF_RANGE: max called on empty list"),
    ("[1, 'a'].isSorted()", "INVALID_ARGUMENT: no such overload: list elements of mixed types"),
    ("[9223372036854775807, 1].sum()", "OUT_OF_RANGE: integer overflow"),
    ("url('example.com')", "OUT_OF_RANGE: URL parse error during conversion from string"),
    ("ip('10.0.0.256')", "OUT_OF_RANGE: IP Address '10.0.0.256' parse error"),
    ("ip('fe80::1%eth0')", "OUT_OF_RANGE: IP address 'fe80::1%eth0' with zone value"),
    ("ip('::ffff:1.2.3.4')", "OUT_OF_RANGE: IPv4-mapped IPv6 address '::ffff:1.2.3.4'"),
    ("cidr('10.0.0.0')", "OUT_OF_RANGE: network address parse error"),
    ("quantity('1Gb')", "OUT_OF_RANGE: unable to parse quantity's suffix: '1Gb'"),
    ("quantity('')", "OUT_OF_RANGE: quantities must match the regular expression: ''"),
    ("quantity('500m').asInteger()", "OUT_OF_RANGE: cannot convert value to integer"),
    ("quantity('100Ei').add(quantity('100Ei')).asInteger()", "OUT_OF_RANGE: cannot convert"),
    ("semver('v1.0.0')", "OUT_OF_RANGE: could not parse 'v1.0.0' as semver"),
    ("quantity('1').compareTo(semver('1.0.0'))", "INVALID_ARGUMENT: no such overload"),
    ("ip('10.0.0.1').getScheme()", "INVALID_ARGUMENT: no such overload: expected kubernetes.URL"),
    ("format.named('nope')", "OUT_OF_RANGE: unknown format 'nope'"),
]


# RE2 (Go's regexp) where Python's `re` differs: what Kubernetes refuses is refused here.
RE2_ERRORS: list[tuple[str, str]] = [
    ("(a)\\1", "invalid escape sequence: `\\1`"),
    ("a(?=b)", "invalid or unsupported Perl syntax: `(?=`"),
    ("(?<!a)b", "invalid or unsupported Perl syntax: `(?<!`"),
    ("a**", "invalid nested repetition operator: `**`"),
    ("x{1001}", "invalid repeat count: `{1001}`"),
    ("[", "missing closing ]: `[`"),
]


@pytest.mark.parametrize(("pattern", "go_error"), RE2_ERRORS)
def test_a_literal_pattern_re2_refuses_does_not_compile(pattern: str, go_error: str) -> None:
    # As Kubernetes, which compiles literal patterns when it builds the program.
    literal = pattern.replace("\\", "\\\\")  # a CEL string literal escapes its backslashes
    expr = f"'aa'.find('{literal}') == ''"
    with pytest.raises(CelError) as caught:
        ENV.compile(expr)
    assert str(caught.value) == f"cannot compile {expr!r}: error parsing regexp: {go_error}"


@pytest.mark.parametrize(("pattern", "go_error"), RE2_ERRORS)
def test_a_pattern_from_the_object_re2_refuses_is_an_error(pattern: str, go_error: str) -> None:
    activation = ENV.activation({"object": {"pattern": pattern}})
    for expr in ("'aa'.find(object.pattern)", "'aa'.findAll(object.pattern, 1)"):
        with pytest.raises(CelEvalError) as caught:
            ENV.compile(expr).evaluate(activation)
        assert str(caught.value) == f"OUT_OF_RANGE: Illegal regex: error parsing regexp: {go_error}"


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        # \d, \w and \s are ASCII in RE2 (Python's re also matches other scripts' digits).
        ("'\u0663\u0664-42'.find('\\\\d+')", "42"),
        ("'\u00e9t\u00e9_1'.findAll('\\\\w+')", ["t", "_1"]),
        ("'Stra\u00dfe'.find('(?i)STRASSE')", ""),
    ],
)
def test_re2_character_classes_are_ascii(expr: str, expected: object) -> None:
    assert evaluate(expr) == expected


def test_a_backtracking_pattern_runs_in_linear_time() -> None:
    # The ReDoS of issue 15: Python's re needs about 7 s at 28 characters and doubles with each
    # more; RE2 answers a 100,000-character label at once (bench/cel_isolation.py times it).
    label = "a" * 100_000 + "!"
    activation = ENV.activation({"object": {"label": label}})
    expr = "object.label.find('^([a-z0-9]+-?)+$') == object.label"
    assert ENV.compile(expr).evaluate(activation) is False
    assert evaluate("'web-1-a'.find('^([a-z0-9]+-?)+$')") == "web-1-a"


@pytest.mark.parametrize(("expr", "message"), ERRORS)
def test_library_errors_are_evaluation_errors(expr: str, message: str) -> None:
    with pytest.raises(CelEvalError) as caught:
        evaluate(expr)
    assert str(caught.value).startswith(message)


def test_opaque_values_travel_as_tagged_maps() -> None:
    assert evaluate("ip('10.0.0.1')") == {"@type": "net.IP", "value": "10.0.0.1"}
    assert evaluate("quantity('1500m')") == {"@type": "kubernetes.Quantity", "value": "1.5"}
    assert evaluate("semver('1.0.0-rc.1+b')") == {
        "@type": "kubernetes.Semver",
        "value": "1.0.0-rc.1",
    }

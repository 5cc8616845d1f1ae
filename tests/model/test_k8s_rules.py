"""The API server's syntax rules (cnilab.model.k8s), each against Kubernetes' own cases
(k8s.io/apimachinery/pkg/util/validation's tests), and the kubectl-style messages."""

from __future__ import annotations

import pytest

from cnilab.model import k8s


@pytest.mark.parametrize("good", ["a", "ab", "a-b", "0", "a1", "1-a", "a" * 63])
def test_dns1123_label_accepts(good):
    assert k8s.dns1123_label(good) == []


@pytest.mark.parametrize("bad", ["", "A", "-a", "a-", "a.b", "a_b", "a b", "a" * 64])
def test_dns1123_label_refuses(bad):
    assert k8s.dns1123_label(bad)


def test_dns1123_label_too_long_says_so():
    assert k8s.dns1123_label("a" * 64) == ["must be no more than 63 characters"]


@pytest.mark.parametrize("good", ["a", "a.b", "a-b.c-d", "1.2.3", "a" * 253])
def test_dns1123_subdomain_accepts(good):
    assert k8s.dns1123_subdomain(good) == []


@pytest.mark.parametrize("bad", ["", ".a", "a.", "a..b", "A.b", "a_b", "a" * 254])
def test_dns1123_subdomain_refuses(bad):
    assert k8s.dns1123_subdomain(bad)


@pytest.mark.parametrize(("value", "ok"), [("a", True), ("my-svc", True), ("a1", True), ("1a", False), ("-a", False), ("a-", False), ("a" * 64, False)])
def test_dns1035_label(value, ok):
    assert (k8s.dns1035_label(value) == []) is ok


@pytest.mark.parametrize("good", ["app", "App", "a.b_c-d", "example.com/app", "k8s.io/a", "node-role.kubernetes.io/master", "a" * 63, "p/" + "a" * 63])
def test_qualified_name_accepts(good):
    assert k8s.qualified_name(good) == []


@pytest.mark.parametrize(("bad", "says"), [
    ("", "name part must be non-empty"),
    ("-app", "name part must consist of"),
    ("app-", "name part must consist of"),
    ("/app", "prefix part must be non-empty"),
    ("Example.com/app", "prefix part a lowercase RFC 1123 subdomain"),
    ("a/b/c", "a qualified name must consist of"),
    ("a" * 64, "name part must be no more than 63 characters"),
    ("example.com/", "name part must be non-empty"),
])
def test_qualified_name_refuses(bad, says):
    assert any(says in m for m in k8s.qualified_name(bad)), k8s.qualified_name(bad)


@pytest.mark.parametrize("good", ["", "v", "V1.2_3-a", "a" * 63])
def test_label_value_accepts(good):
    assert k8s.label_value(good) == []


@pytest.mark.parametrize("bad", ["-a", "a-", "a b", "a/b", "a" * 64])
def test_label_value_refuses(bad):
    assert k8s.label_value(bad)


@pytest.mark.parametrize("good", ["http", "a", "h2c", "web-80", "a" * 15])
def test_port_name_accepts(good):
    assert k8s.port_name(good) == []


@pytest.mark.parametrize(("bad", "says"), [
    ("a" * 16, "must be no more than 15 characters"),
    ("HTTP", "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)"),
    ("http_1", "must contain only alpha-numeric characters"),
    ("8080", "must contain at least one letter (a-z)"),
    ("a--b", "must not contain consecutive hyphens"),
    ("-http", "must not begin or end with a hyphen"),
    ("http-", "must not begin or end with a hyphen"),
])
def test_port_name_refuses(bad, says):
    assert any(says in m for m in k8s.port_name(bad)), k8s.port_name(bad)


@pytest.mark.parametrize(("n", "ok"), [(0, False), (1, True), (80, True), (65535, True), (65536, False), (-1, False)])
def test_port_number(n, ok):
    assert (k8s.port_number(n) == []) is ok


def test_regex_error_is_worded_as_kubernetes_words_it():
    # the double space is Kubernetes' own
    assert k8s.dns1123_label("A") == [
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start "
        "and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    ]


def test_field_errors_are_kubectl_lines():
    assert k8s.invalid("spec.ports[0].name", "x" * 16, "must be no more than 15 characters") == (
        "spec.ports[0].name", 'Invalid value: "xxxxxxxxxxxxxxxx": must be no more than 15 characters')
    assert k8s.not_supported("spec.type", "Foo", ["A", "B"]) == ("spec.type", 'Unsupported value: "Foo": supported values: "A", "B"')
    assert k8s.required("spec.ports") == ("spec.ports", "Required value")
    assert k8s.duplicate("spec.ports[1].name", "a") == ("spec.ports[1].name", 'Duplicate value: "a"')


def test_selector_matching():
    sel = {"matchLabels": {"app": "a"}, "matchExpressions": [{"key": "tier", "operator": "In", "values": ["web"]}]}
    assert k8s.selector_matches(sel, {"app": "a", "tier": "web"})
    assert not k8s.selector_matches(sel, {"app": "a", "tier": "db"})
    assert k8s.selector_matches({"matchExpressions": [{"key": "x", "operator": "DoesNotExist"}]}, {"app": "a"})


def test_structure_comes_from_the_kubernetes_client():
    # unknown fields, wrong types, required fields: the client's models say them
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"},
           "spec": {"selector": {"a": "b"}, "ports": [{"port": "80", "nmae": "x"}]}}
    found = dict(k8s.structure(svc))
    assert found["spec.ports[0].port"] == 'Invalid value: "80": must be an integer'
    assert found["spec.ports[0].nmae"] == 'unknown field "nmae" (did you mean "name"?)'


def test_a_quantity_may_be_a_number():
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
           "spec": {"containers": [{"name": "c", "image": "i", "resources": {"limits": {"cpu": 1}}}]}}
    assert k8s.validate(pod) == []


def test_int_or_string_is_said_once():
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "s"}, "spec": {"ports": [{"port": 80, "targetPort": 1.5}]}}
    found = [p for p in k8s.structure(svc) if p[0] == "spec.ports[0].targetPort"]
    assert found == [("spec.ports[0].targetPort", "Invalid value: 1.5: must be an integer or a string")]

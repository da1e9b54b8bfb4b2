"""webhook.manifests: documents with file:line, kind: List, stdin, directories, hostile input."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest

from tests.support import SHARED_DATA
from webhook.cli import main
from webhook.yamlio import manifests
from webhook.yamlio.manifests import Document, Limits, ManifestError, load, parse, plain

POOL = "apiVersion: openvox.voxpupuli.org/v1alpha1\nkind: Pool\nmetadata: {name: p}\n"
CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}}


def test_documents_are_located_at_their_first_key() -> None:
    text = f"# leading comment\n---\n{POOL}---\n---\n# only a comment\n---\n\n{POOL}"
    assert [(d.path, d.line, d.source) for d in parse(text, "f.yaml")] == [
        ("f.yaml", 3, "f.yaml:3"),
        ("f.yaml", 11, "f.yaml:11"),
    ]


def test_a_list_is_unpacked_with_each_item_located() -> None:
    text = (
        "apiVersion: v1\nkind: List\nitems:\n"
        "- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n"
        "- {apiVersion: v1, kind: Secret}\n"
    )
    assert parse(text, "l.yaml") == [
        Document(CM, "l.yaml", 4),
        Document({"apiVersion": "v1", "kind": "Secret"}, "l.yaml", 7),
    ]


def test_json_and_anchors_that_stay_small_are_read() -> None:
    text = '{"apiVersion": "v1",\n "kind": "ConfigMap", "metadata": {"name": "a"}}'
    assert parse(text, "c.json") == [Document(CM, "c.json", 1)]
    anchored = "apiVersion: v1\nkind: X\na: &x {b: 1}\nc: *x\n"
    assert parse(anchored, "a.yaml")[0].obj["c"] == {"b": 1}


BOMB = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{','.join([f'*{chr(97 + i)}'] * 9)}]\n" for i in range(9)
)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BOMB, "h.yaml:6: more than 500000 nodes once aliases are expanded (an alias bomb?)"),
        ("[" * 100_000 + "]" * 100_000, "h.yaml:1: nested deeper than 200 levels"),
        ("- " * 100_000 + "a", "h.yaml:1: nested deeper than 200 levels"),
        ("a: &a [*a]\n", "h.yaml:1: alias *a refers to itself"),
        ("a: *nowhere\n", "h.yaml:1: not valid YAML: found undefined alias 'nowhere'"),
        (
            "a: b\n c: d\n",
            "h.yaml:2: not valid YAML: mapping values are not allowed here",
        ),
        (f"{POOL}---\n- 1\n", "h.yaml:5: expected a Kubernetes object (a mapping), got a list"),
        (
            "metadata: {name: a}\n",
            "h.yaml:1: not a Kubernetes object: apiVersion and kind are required",
        ),
    ],
)
def test_hostile_or_broken_yaml_fails_fast_with_its_location(text: str, message: str) -> None:
    started = time.perf_counter()
    with pytest.raises(ManifestError) as raised:
        parse(text, "h.yaml")
    assert str(raised.value) == message
    assert time.perf_counter() - started < 1.0


@pytest.mark.parametrize(
    ("data", "limits", "message"),
    [
        (
            b"apiVersion: v1\n\x00\x01",
            Limits(),
            "x.yaml:2: binary content (a NUL byte), not YAML or JSON",
        ),
        (b"a: \xff\xfe\n", Limits(), "x.yaml:1: not UTF-8 text (byte 3)"),
        (POOL.encode(), Limits(file_bytes=10), "x.yaml: larger than 10 bytes"),
        (POOL.encode(), Limits(document_bytes=10), "x.yaml:1: document larger than 10 bytes"),
    ],
)
def test_files_are_read_with_caps(
    tmp_path: Path, data: bytes, limits: Limits, message: str
) -> None:
    path = tmp_path / "x.yaml"
    path.write_bytes(data)
    with pytest.raises(ManifestError) as raised:
        load([str(path)], limits=limits)
    assert str(raised.value) == message.replace("x.yaml", str(path))


def test_directories_are_walked_in_order_skipping_hidden_and_other_files(tmp_path: Path) -> None:
    for name in ("b/two.yml", "a.json", "c/.hidden/x.yaml", "notes.txt", "b/one.yaml"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text('{"apiVersion": "v1", "kind": "ConfigMap"}')
    found = [Path(d.path).relative_to(tmp_path).as_posix() for d in load([str(tmp_path)])]
    assert found == ["a.json", "b/one.yaml", "b/two.yml"]


def test_dash_reads_stdin() -> None:
    documents = load(["-"], io.BytesIO(POOL.encode()))
    assert [(d.source, d.obj["kind"]) for d in documents] == [("<stdin>:1", "Pool")]


def test_a_missing_path_is_an_input_error() -> None:
    with pytest.raises(ManifestError, match=r"^nope\.yaml: no such file or directory$"):
        load(["nope.yaml"])


@pytest.mark.parametrize(
    ("text", "fast"),
    [
        ("apiVersion: v1\nkind: Service\nmetadata: {name: a}\n", True),
        ("a: &x [1]\nb: *x\n", False),
        ("a: " + "[" * 101 + "]" * 101 + "\n", False),
        ("a: " + "[" * 100 + "]" * 100 + "\n", True),
        ("a: " + "- " * 2100 + "x\n", False),
        ("a:\n" + " " * 97 + "b: c\n", True),
        ("a:\n" + " " * 98 + "b: c\n", False),
        ("- " * 48 + "x\n", True),
        ("- " * 49 + "x\n", False),
    ],
)
def test_only_plain_text_takes_libyamls_own_composer(text: str, fast: bool) -> None:
    assert plain(text, Limits()) is fast


@pytest.mark.parametrize(
    "text",
    [
        "[" * 100_000 + "]" * 100_000,
        "- " * 100_000 + "a",
        "a:\n" + "".join(" " * i + f"k{i}:\n" for i in range(1, 250)) + " " * 250 + "x: 1\n",
        "a: " + "{b: " * 300 + "1" + "}" * 300 + "\n",
    ],
)
@pytest.mark.parametrize("libyaml", [True, False])
def test_the_depth_limit_is_edgeguards_with_or_without_libyaml(
    monkeypatch: pytest.MonkeyPatch, text: str, libyaml: bool
) -> None:
    if not libyaml:
        monkeypatch.setattr(manifests, "FAST_LOADER", None)
    with pytest.raises(ManifestError) as raised:
        parse(text, "h.yaml")
    assert str(raised.value).startswith("h.yaml:")
    assert str(raised.value).endswith(": nested deeper than 200 levels")


@pytest.mark.parametrize("libyaml", [True, False])
def test_plain_documents_read_the_same_with_or_without_libyaml(
    monkeypatch: pytest.MonkeyPatch, libyaml: bool
) -> None:
    if not libyaml:
        monkeypatch.setattr(manifests, "FAST_LOADER", None)
    text = f"# c\n---\n{POOL}---\n{{apiVersion: v1, kind: ConfigMap, metadata: {{name: a}}}}\n"
    assert parse(text, "f.yaml") == [
        Document(
            {
                "apiVersion": "openvox.voxpupuli.org/v1alpha1",
                "kind": "Pool",
                "metadata": {"name": "p"},
            },
            "f.yaml",
            3,
        ),
        Document(CM, "f.yaml", 7),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            f"{POOL}spec:\n  version: '2.4.4'\n  replicas: 3\n  version: '2.4.4'\n",
            "d.yaml:7: duplicate key 'version' (first at line 5)",
        ),
        (
            '{"apiVersion": "v1", "kind": "ConfigMap",\n "metadata": {"name": "a", "name": "b"}}',
            "d.yaml:2: duplicate key 'name' (first at line 2)",
        ),
        (f"{POOL}kind: Pool\n", "d.yaml:4: duplicate key 'kind' (first at line 2)"),
        # A quoted key is the same key.
        (f"{POOL}spec: {{a: 1, 'a': 2}}\n", "d.yaml:4: duplicate key 'a' (first at line 4)"),
    ],
)
@pytest.mark.parametrize("libyaml", [True, False])
def test_a_repeated_key_is_refused_naming_both_lines(
    monkeypatch: pytest.MonkeyPatch, text: str, message: str, libyaml: bool
) -> None:
    """kubectl refuses such a file; YAML itself would keep the last value silently."""
    if not libyaml:
        monkeypatch.setattr(manifests, "FAST_LOADER", None)
    with pytest.raises(ManifestError) as raised:
        parse(text, "d.yaml")
    assert str(raised.value) == message


def test_the_openbao_basics_sample_repeats_version(capsys: pytest.CaptureFixture[str]) -> None:
    sample = SHARED_DATA / "openbao-operator" / "samples" / "openbao_v1alpha1_openbaocluster.yaml"
    assert main(["review", str(sample)]) == 2
    assert capsys.readouterr() == (
        "",
        f"edgeguard: error: {sample}:10: duplicate key 'version' (first at line 9)\n",
    )


def test_merge_keys_may_still_be_overridden() -> None:
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  <<: {name: a, namespace: x}\n  name: b\n"
    [document] = parse(text, "m.yaml")
    assert document.obj["metadata"] == {"name": "b", "namespace": "x"}

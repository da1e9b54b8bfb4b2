"""What review reads in a real repository: non-objects skipped with a note, errors exit 2."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from webhook.cli import main

SERVICE = "apiVersion: v1\nkind: Service\nmetadata: {name: NAME, namespace: ns}\n"
REPOSITORY = {
    "app/service.yaml": SERVICE.replace("NAME", "web"),
    "app/kustomization.yaml": (
        "resources: [service.yaml]\n"
        "patches:\n- path: patch-json6902.json\n  target: {kind: Service, name: web}\n"
        "patchesStrategicMerge: [patch-merge.yaml]\n"
        "configMapGenerator:\n- name: settings\n  files: [conf=settings.yaml]\n"
    ),
    "app/patch-json6902.json": '[{"op": "replace", "path": "/spec/type", "value": "NodePort"}]',
    "app/patch-merge.yaml": SERVICE.replace("NAME", "web") + "spec: {type: NodePort}\n",
    "app/settings.yaml": "level: debug\n",
    "chart/Chart.yaml": "apiVersion: v2\nname: web\nversion: 0.1.0\n",
    "chart/values.yaml": "replicas: 2\n",
    "chart/templates/service.yaml": SERVICE.replace("NAME", "{{ .Release.Name }}"),
    "chart/crds/widgets.yaml": SERVICE.replace("NAME", "crd-stand-in"),
    "ci/workflow.yaml": "on: [push]\njobs: {review: {runs-on: ubuntu-latest}}\n",
    "loose/template.yaml": "kind: Service\nmetadata:\n  name: {{ .Values.name }}\n",
    ".hidden/service.yaml": SERVICE.replace("NAME", "hidden"),
}


@pytest.fixture
def repository(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    for name, text in REPOSITORY.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_a_repository_is_reviewed_with_a_note_per_file_left_out(
    repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["review", "-o", "json", "."]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [(o["file"], o["name"]) for o in report["objects"]] == [
        ("app/service.yaml", "web"),
        ("chart/crds/widgets.yaml", "crd-stand-in"),
    ]
    helm = "review the chart as helm template CHART | edgeguard review -"
    assert report["skipped"] == [
        {
            "file": "app/kustomization.yaml",
            "line": 0,
            "reason": "a kustomization, not an object: review what it builds with --kustomize"
            " app",
        },
        {
            "file": "app/patch-json6902.json",
            "line": 0,
            "reason": "named in app/kustomization.yaml under patches: not an object as applied",
        },
        {
            "file": "app/patch-merge.yaml",
            "line": 0,
            "reason": "named in app/kustomization.yaml under patchesStrategicMerge: not an"
            " object as applied",
        },
        {
            "file": "app/settings.yaml",
            "line": 0,
            "reason": "named in app/kustomization.yaml under configMapGenerator: not an object"
            " as applied",
        },
        {
            "file": "chart/Chart.yaml",
            "line": 1,
            "reason": f"part of the Helm chart in chart, not an object; {helm}",
        },
        {
            "file": "chart/templates/service.yaml",
            "line": 0,
            "reason": f"a template of the Helm chart in chart; {helm}",
        },
        {
            "file": "chart/values.yaml",
            "line": 1,
            "reason": f"part of the Helm chart in chart, not an object; {helm}",
        },
        {
            "file": "ci/workflow.yaml",
            "line": 1,
            "reason": "not a Kubernetes object: apiVersion and kind are required",
        },
        {
            "file": "loose/template.yaml",
            "line": 3,
            "reason": "not valid YAML, with {{ }}: an unrendered Helm template? Review it as"
            " helm template CHART | edgeguard review -",
        },
    ]
    assert report["summary"]["skipped"] == 9


def test_the_text_report_lists_the_notes_and_counts_them(
    repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["review", "app", "ci/workflow.yaml"]) == 0
    assert capsys.readouterr().out == (
        "app/kustomization.yaml: skipped: a kustomization, not an object: review what it builds"
        " with --kustomize app\n"
        "app/patch-json6902.json: skipped: named in app/kustomization.yaml under patches: not an"
        " object as applied\n"
        "app/patch-merge.yaml: skipped: named in app/kustomization.yaml under"
        " patchesStrategicMerge: not an object as applied\n"
        "app/settings.yaml: skipped: named in app/kustomization.yaml under configMapGenerator:"
        " not an object as applied\n"
        "ci/workflow.yaml:1: skipped: not a Kubernetes object: apiVersion and kind are required\n"
        "1 object: 0 denied, 0 with warnings, 0 patched; 5 files skipped\n"
    )


def test_a_patch_given_by_name_is_still_known_as_one(
    repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pre-commit passes the changed files one by one: the kustomization beside them counts."""
    assert main(["review", "app/patch-merge.yaml", "app/service.yaml"]) == 0
    assert capsys.readouterr().out.splitlines()[-2:] == [
        "app/patch-merge.yaml: skipped: named in app/kustomization.yaml under"
        " patchesStrategicMerge: not an object as applied",
        "1 object: 0 denied, 0 with warnings, 0 patched; 1 file skipped",
    ]


def test_exclude_leaves_out_files_and_folders(
    repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["review", "-o", "json", "--exclude", "chart", "--exclude", "*.json", "."]
    assert main([*argv, "--exclude", "ci/*", "--exclude", "loose/template.yaml"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [o["file"] for o in report["objects"]] == ["app/service.yaml"]
    assert [s["file"] for s in report["skipped"]] == [
        "app/kustomization.yaml",
        "app/patch-merge.yaml",
        "app/settings.yaml",
    ]


def test_a_file_mixing_an_object_and_another_document_is_an_error(
    repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """kubectl refuses it, so does review: it is a broken manifest, not some other file."""
    Path("mixed.yaml").write_text(SERVICE.replace("NAME", "a") + "---\nreplicas: 2\n")
    assert main(["review", "mixed.yaml"]) == 2
    assert capsys.readouterr() == (
        "",
        "edgeguard: error: mixed.yaml:5: not a Kubernetes object: apiVersion and kind are"
        " required\n",
    )


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            ["empty"],
            "empty: no *.yaml, *.yml or *.json file here; pass --allow-empty if that is expected",
        ),
        (
            ["--exclude", "*", "app"],
            "app: no *.yaml, *.yml or *.json file here; pass --allow-empty if that is expected",
        ),
        (["emptydir"], "emptydir: no such file or directory"),
        (
            ["-"],
            "<stdin>: no Kubernetes objects (did the command before the pipe fail?); pass"
            " --allow-empty if that is expected",
        ),
        ([], "review needs a PATH (a file, a folder or - for stdin) or --kustomize DIR"),
    ],
)
def test_a_path_with_nothing_to_review_is_an_error(
    repository: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    argv: list[str],
    error: str,
) -> None:
    Path("empty").mkdir()
    (repository / "empty" / "README.md").write_text("no manifests here\n")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"# nothing\n")))
    assert main(["review", *argv]) == 2
    assert capsys.readouterr() == ("", f"edgeguard: error: {error}\n")


def test_allow_empty_accepts_nothing_to_review(
    repository: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    Path("empty").mkdir()
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"")))
    assert main(["review", "--allow-empty", "empty", "-"]) == 0
    assert capsys.readouterr() == ("0 objects: 0 denied, 0 with warnings, 0 patched\n", "")


def test_the_cluster_state_may_be_a_whole_repository(
    repository: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The README's pre-commit advice: `--cluster-state manifests/`, notes and all."""
    assert main(["review", "--cluster-state", ".", "app/service.yaml"]) == 0
    assert capsys.readouterr().out == (
        "app/service.yaml:1: Service ns/web (CREATE)\n"
        "  no policy applies\n"
        "1 object: 0 denied, 0 with warnings, 0 patched\n"
    )

"""kustomize directories: the files a kustomization names, and `review --kustomize DIR`."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from webhook.cli import main
from webhook.offline import kustomize
from webhook.offline.kustomize import Role

CAT = shutil.which("cat")  # the tools' own PATH has only them
RENDERED = """\
apiVersion: v1
kind: Service
metadata: {name: web, namespace: ns}
---
apiVersion: openvox.voxpupuli.org/v1alpha1
kind: Pool
metadata: {name: puppet, namespace: ns}
spec: {route: {enabled: true, gatewayRef: {name: edge}}}
"""


def test_the_files_a_kustomization_names_as_patches_and_inputs(tmp_path: Path) -> None:
    spec = tmp_path / "kustomization.yaml"
    spec.write_text(
        "resources: [deploy.yaml, ../base]\n"
        "patchesStrategicMerge: [merge.yaml, 'apiVersion: v1\n\n  kind: X']\n"
        "patches:\n- path: p.yaml\n- patch: '[{op: remove, path: /x}]'\n"
        "patchesJson6902:\n- {path: j.json, target: {kind: Service}}\n"
        "configMapGenerator:\n- {name: a, files: [key=c.conf, d.conf], envs: [e.env]}\n"
        "secretGenerator:\n- {name: s, env: s.env}\n"
        "configurations: [names.yaml]\n"
        "replacements:\n- path: r.yaml\n"
        "openapi: {path: schema.json}\n"
    )
    assert kustomize.roles(spec) == {
        (tmp_path / name).resolve(): Role(spec, field)
        for name, field in [
            ("merge.yaml", "patchesStrategicMerge"),
            ("p.yaml", "patches"),
            ("j.json", "patchesJson6902"),
            ("names.yaml", "configurations"),
            ("r.yaml", "replacements"),
            ("c.conf", "configMapGenerator"),
            ("d.conf", "configMapGenerator"),
            ("e.env", "configMapGenerator"),
            ("s.env", "secretGenerator"),
            ("schema.json", "openapi"),
        ]
    }


def test_a_kustomization_that_is_not_yaml_names_nothing(tmp_path: Path) -> None:
    spec = tmp_path / "kustomization.yaml"
    spec.write_text("resources: [\n")
    assert kustomize.roles(spec) == {}


def _tool(folder: Path, name: str, script: str) -> None:
    folder.mkdir(exist_ok=True)
    tool = folder / name
    tool.write_text(f"#!/bin/sh\n{script}\n")
    tool.chmod(0o755)


@pytest.fixture
def overlay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "overlay").mkdir()
    (tmp_path / "overlay" / "kustomization.yaml").write_text("resources: []\n")
    (tmp_path / "rendered.yaml").write_text(RENDERED)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    return tmp_path


@pytest.mark.parametrize(
    ("tool", "argv"), [("kustomize", "build overlay"), ("kubectl", "kustomize overlay")]
)
def test_review_kustomize_reviews_what_the_build_renders(
    overlay: Path, capsys: pytest.CaptureFixture[str], tool: str, argv: str
) -> None:
    _tool(overlay / "bin", tool, f'echo "$@" > {overlay}/argv; {CAT} {overlay}/rendered.yaml')
    assert main(["review", "--kustomize", "overlay"]) == 1
    assert (overlay / "argv").read_text() == f"{argv}\n"
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "kustomize build overlay:5: Pool ns/puppet (CREATE)"
    assert out.splitlines()[-1] == "2 objects: 1 denied, 1 with warnings, 0 patched"


def test_sarif_locates_a_rendered_object_at_its_kustomization(
    overlay: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _tool(overlay / "bin", "kustomize", f"{CAT} {overlay}/rendered.yaml")
    assert main(["review", "-o", "sarif", "--kustomize", "overlay"]) == 1
    results = json.loads(capsys.readouterr().out)["runs"][0]["results"]
    assert {json.dumps(r["locations"]) for r in results} == {
        json.dumps(
            [{"physicalLocation": {"artifactLocation": {"uri": "overlay/kustomization.yaml"}}}]
        )
    }


@pytest.mark.parametrize(
    ("script", "error"),
    [
        (
            "echo 'Error: accumulating resources' >&2; echo 'missing.yaml: no such file' >&2;"
            " exit 1",
            "overlay: kustomize build overlay failed: Error: accumulating resources /"
            " missing.yaml: no such file",
        ),
        ("exit 3", "overlay: kustomize build overlay failed: exit 3"),
        ("echo 'plain: value'", "kustomize build overlay:1: not a Kubernetes object: apiVersion"
         " and kind are required"),
        ("true", "overlay: kustomize built no objects; pass --allow-empty if that is expected"),
    ],
)
def test_a_failed_build_is_one_line_and_exit_2(
    overlay: Path, capsys: pytest.CaptureFixture[str], script: str, error: str
) -> None:
    _tool(overlay / "bin", "kustomize", script)
    assert main(["review", "--kustomize", "overlay"]) == 2
    assert capsys.readouterr() == ("", f"edgeguard: error: {error}\n")


def test_without_kustomize_or_kubectl_review_says_how_to_pipe_it(
    overlay: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert os.environ["PATH"] == str(overlay / "bin")
    assert main(["review", "--kustomize", "overlay"]) == 2
    assert capsys.readouterr().err == (
        "edgeguard: error: overlay: --kustomize needs kustomize or kubectl on PATH; or pipe the"
        " output in: kustomize build overlay | edgeguard review -\n"
    )
    (overlay / "overlay" / "service.yaml").write_text(RENDERED.split("---")[0])
    assert main(["review", "overlay"]) == 0
    assert capsys.readouterr().out.splitlines()[0] == (
        "overlay/kustomization.yaml: skipped: a kustomization, not an object: review what it"
        " builds with: kustomize build overlay | edgeguard review -"
    )


def test_a_folder_without_a_kustomization_is_refused(
    overlay: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _tool(overlay / "bin", "kustomize", "exit 0")
    assert main(["review", "--kustomize", "bin"]) == 2
    assert capsys.readouterr().err == (
        "edgeguard: error: bin: no kustomization.yaml in this folder (--kustomize)\n"
    )

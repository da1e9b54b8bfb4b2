"""One admission request, whatever its source: an AdmissionReview or a manifest file.

Raw wire dicts are turned into a `Review` here, at the edge; nothing inside sees them.
`ReviewError` carries the exact reason a request is malformed (the server answers 400).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from webhook.core.json import JSONObject
from webhook.core.kinds import GroupKind, group_of

ADMISSION_VERSIONS = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
# A memo key: the objects (kind, namespace, name) a denial relied on, which the server may
# confirm with the API server before refusing (a delete the watch has not delivered yet).
RELIED_ON = "relied-on"
OPERATIONS = ("CREATE", "UPDATE", "DELETE", "CONNECT")


class ReviewError(ValueError):
    """The request is not a usable AdmissionReview; the message says exactly why."""


class GroupVersionKind(NamedTuple):
    group: str
    version: str
    kind: str

    @property
    def group_kind(self) -> GroupKind:
        return GroupKind(self.group, self.kind)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    def __str__(self) -> str:
        return f"{self.api_version}, Kind={self.kind}"


@dataclass(frozen=True)
class Review:
    uid: str
    operation: str
    kind: GroupVersionKind
    namespace: str | None
    name: str
    object: JSONObject | None
    old_object: JSONObject | None
    dry_run: bool = False
    user: str = ""
    api_version: str = "admission.k8s.io/v1"
    source: str = ""
    group_kind: GroupKind = field(init=False, repr=False, compare=False)
    # What policies work out once per request and share (the attachment model's answer).
    memo: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Asked by every policy, many times per request: computed once.
        object.__setattr__(self, "group_kind", self.kind.group_kind)

    @property
    def current(self) -> JSONObject:
        """The object being admitted: the new one, or the old one for DELETE."""
        return self.object or self.old_object or {}

    @classmethod
    def from_admission(cls, body: Any) -> Review:
        if not isinstance(body, dict):
            raise ReviewError("body must be a JSON object (an AdmissionReview)")
        api_version = body.get("apiVersion")
        if api_version not in ADMISSION_VERSIONS:
            raise ReviewError(
                f"apiVersion must be one of {', '.join(ADMISSION_VERSIONS)}, got {api_version!r}"
            )
        if body.get("kind") != "AdmissionReview":
            raise ReviewError(f"kind must be AdmissionReview, got {body.get('kind')!r}")
        request = body.get("request")
        if not isinstance(request, dict):
            raise ReviewError("request is missing or is not an object")
        uid = request.get("uid")
        if not isinstance(uid, str) or not uid:
            raise ReviewError("request.uid is missing or is not a non-empty string")
        if not _is_text(uid):
            # The answer must echo the uid; a lone surrogate has no UTF-8 form to echo.
            raise ReviewError("request.uid is not valid Unicode text (it has a lone surrogate)")
        operation = request.get("operation")
        if operation not in OPERATIONS:
            raise ReviewError(
                f"request.operation must be one of {', '.join(OPERATIONS)}, got {operation!r}"
            )
        kind = _gvk(request.get("kind"))
        obj = _optional_object(request, "object")
        old = _optional_object(request, "oldObject")
        if operation in ("CREATE", "UPDATE") and obj is None:
            raise ReviewError(f"request.object is required for {operation}")
        if operation == "UPDATE" and old is None:
            raise ReviewError("request.oldObject is required for UPDATE")
        namespace = _optional_str(request, "namespace") or None
        return cls(
            uid=uid,
            operation=str(operation),
            kind=kind,
            namespace=namespace,
            name=_optional_str(request, "name") or _meta_name(obj or old),
            object=_placed(obj, namespace),
            old_object=_placed(old, namespace),
            dry_run=request.get("dryRun") is True,
            user=_username(request.get("userInfo")),
            api_version=str(api_version),
        )

    @classmethod
    def from_manifest(
        cls,
        obj: JSONObject,
        operation: str = "CREATE",
        old: JSONObject | None = None,
        source: str = "",
    ) -> Review:
        """A review of a manifest, as the API server would send it (for the CLI and tests)."""
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str) or not kind:
            raise ReviewError(f"{source or 'manifest'}: apiVersion and kind are required")
        group, _, version = api_version.rpartition("/")
        meta = obj.get("metadata")
        namespace = meta.get("namespace") if isinstance(meta, dict) else None
        deleting = operation == "DELETE"
        return cls(
            uid=f"manifest-{group_of(api_version)}-{kind}-{namespace}-{_meta_name(obj)}",
            operation=operation,
            kind=GroupVersionKind(group, version, kind),
            namespace=namespace if isinstance(namespace, str) and namespace else None,
            name=_meta_name(obj),
            object=None if deleting else obj,
            old_object=obj if deleting else old,
            source=source,
        )


def _gvk(raw: object) -> GroupVersionKind:
    if not isinstance(raw, dict):
        raise ReviewError("request.kind is missing or is not an object")
    parts = []
    for key in ("group", "version", "kind"):
        value = raw.get(key, "" if key == "group" else None)
        if not isinstance(value, str) or (key != "group" and not value):
            raise ReviewError(f"request.kind.{key} is missing or is not a string")
        parts.append(value)
    return GroupVersionKind(*parts)


def _optional_object(request: Mapping[str, Any], key: str) -> JSONObject | None:
    value = request.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ReviewError(f"request.{key} must be an object or null")
    return value


def _optional_str(request: Mapping[str, Any], key: str) -> str:
    value = request.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ReviewError(f"request.{key} must be a string")
    return value


def _placed(obj: JSONObject | None, namespace: str | None) -> JSONObject | None:
    """The object with metadata.namespace from the request when it lacks one (the API server
    may send a CREATE before defaulting it), so policies and indexes see where it lives."""
    if obj is None or not namespace:
        return obj
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    if meta.get("namespace"):
        return obj
    return {**obj, "metadata": {**meta, "namespace": namespace}}


def _meta_name(obj: JSONObject | None) -> str:
    meta = obj.get("metadata") if obj else None
    if isinstance(meta, dict):
        name = meta.get("name") or meta.get("generateName")
        if isinstance(name, str):
            return name
    return ""


def _username(user_info: object) -> str:
    if isinstance(user_info, dict) and isinstance(user_info.get("username"), str):
        return str(user_info["username"])
    return ""


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True

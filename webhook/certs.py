"""Certificate generation for development and for self-managed deployments.

Writes a CA and an ECDSA P-256 serving certificate as PEM files, each written atomically.
Existing files are replaced only when the caller says so (`certs generate --force`); development
certificates are added beside an existing CA, never over anything. `webhook.certwatch` serves.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEV_SERVICE = "edgeguard"
DEV_NAMESPACE = "edgeguard"
CA_NAME = "edgeguard webhook CA"
# Backdate validity so a node whose clock lags a little still accepts a fresh certificate.
CLOCK_SKEW = datetime.timedelta(minutes=5)


class CertFileError(Exception):
    """Certificate files that cannot be written or read as asked; the message names them."""


@dataclass(frozen=True)
class CertPaths:
    ca: Path
    ca_key: Path
    cert: Path
    key: Path

    @classmethod
    def in_dir(cls, out_dir: Path) -> CertPaths:
        """The file names `generate` writes, which are also a kubernetes.io/tls Secret's keys."""
        return cls(out_dir / "ca.crt", out_dir / "ca.key", out_dir / "tls.crt", out_dir / "tls.key")


def service_sans(service: str, namespace: str) -> tuple[str, ...]:
    """The names the API server may use to reach a webhook Service."""
    svc = f"{service}.{namespace}.svc"
    return (service, f"{service}.{namespace}", svc, f"{svc}.cluster.local")


def dev_sans(extra: Sequence[str] = ()) -> tuple[str, ...]:
    """Loopback names for `edgeguard serve` on a workstation, then the in-cluster names."""
    return _unique(("localhost", "127.0.0.1", *service_sans(DEV_SERVICE, DEV_NAMESPACE), *extra))


def generate(
    out_dir: Path,
    service: str,
    namespace: str,
    extra_sans: Sequence[str] = (),
    days: int = 365,
    force: bool = False,
) -> CertPaths:
    """Write a fresh CA and a serving certificate for `<service>.<namespace>.svc`.

    Refuses (CertFileError) when any of the four files exists, unless `force` replaces them."""
    sans = _unique((*service_sans(service, namespace), *extra_sans))
    paths = CertPaths.in_dir(out_dir)
    existing = [p for p in (paths.ca, paths.ca_key, paths.cert, paths.key) if _exists(p)]
    if existing and not force:
        raise CertFileError(
            f"{', '.join(map(str, existing))} already exist{'s' if len(existing) == 1 else ''}; "
            "pass --force to replace them, or choose another --out"
        )
    return issue(paths, f"{service}.{namespace}.svc", sans, days, replace=True)


def generate_dev(
    out_dir: Path,
    extra_sans: Sequence[str] = (),
    days: int = 365,
    cert: Path | None = None,
    key: Path | None = None,
) -> CertPaths:
    """Write the serving certificate `edgeguard serve` creates on first run, at `cert`/`key`
    (default `out_dir`/tls.*), signed by the CA in `out_dir`: the one there, or a new one when
    neither ca.crt nor ca.key exists. Never replaces a file (CertFileError instead)."""
    default = CertPaths.in_dir(out_dir)
    paths = CertPaths(default.ca, default.ca_key, cert or default.cert, key or default.key)
    for path in (paths.cert, paths.key):
        if _exists(path):
            raise CertFileError(f"{path} already exists; edgeguard does not replace it")
    return issue(paths, "localhost", dev_sans(extra_sans), days, replace=False)


def issue(
    paths: CertPaths, common_name: str, sans: Sequence[str], days: int, replace: bool
) -> CertPaths:
    """Write a serving certificate for exactly `sans`, signed by the CA at `paths.ca` (made
    new when `replace` or when neither CA file exists). Without `replace`, no file is
    overwritten: one that appeared meanwhile is a CertFileError."""
    if days < 1:
        raise ValueError(f"days must be at least 1, got {days}")
    if not sans:
        raise ValueError("a serving certificate needs at least one subject alternative name")
    not_before = datetime.datetime.now(datetime.UTC) - CLOCK_SKEW
    not_after = not_before + CLOCK_SKEW + datetime.timedelta(days=days)
    existing_ca = None if replace else _existing_ca(paths)
    ca_key, ca_cert = existing_ca or _new_ca(not_before, not_after)
    key = ec.generate_private_key(ec.SECP256R1())
    cert = _serving_certificate(key, ca_key, ca_cert, common_name, sans, not_before, not_after)
    for folder in {paths.ca.parent, paths.cert.parent, paths.key.parent}:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise CertFileError(f"cannot create folder {folder}: {exc.strerror}") from exc
    if existing_ca is None:
        _write(paths.ca_key, _key_pem(ca_key), 0o600, replace)
        _write(paths.ca, ca_cert.public_bytes(serialization.Encoding.PEM), 0o644, replace)
    _write(paths.key, _key_pem(key), 0o600, replace)
    _write(paths.cert, cert.public_bytes(serialization.Encoding.PEM), 0o644, replace)
    return paths


def _new_ca(
    not_before: datetime.datetime, not_after: datetime.datetime
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    return ca_key, _ca_certificate(ca_key, not_before, not_after)


def _existing_ca(paths: CertPaths) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate] | None:
    """The CA already at paths.ca and paths.ca_key; None when neither file exists."""
    present = [_exists(p) for p in (paths.ca, paths.ca_key)]
    if not any(present):
        return None
    if not all(present):
        have, lack = (paths.ca, paths.ca_key) if present[0] else (paths.ca_key, paths.ca)
        raise CertFileError(
            f"{have} exists but {lack} does not: edgeguard signs development certificates "
            f"with that CA and will not replace half of it; restore {lack}, or remove {have}"
        )
    try:
        cert = x509.load_pem_x509_certificate(paths.ca.read_bytes())
        key = serialization.load_pem_private_key(paths.ca_key.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise CertFileError(f"cannot use the CA at {paths.ca} and {paths.ca_key}: {exc}") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.public_key() != cert.public_key():
        raise CertFileError(f"{paths.ca_key} is not the key of the CA certificate {paths.ca}")
    return key, cert


def _exists(path: Path) -> bool:
    try:
        return path.exists() or path.is_symlink()
    except OSError as exc:  # a folder on the way that cannot be searched, a name too long
        raise CertFileError(f"cannot check {path}: {exc.strerror}") from exc


def ca_bundle(ca_path: Path) -> str:
    """The CA PEM in base64: the `caBundle` of a webhook configuration's clientConfig."""
    return base64.b64encode(ca_path.read_bytes()).decode("ascii")


def san_entry(name: str) -> x509.GeneralName:
    """An IP address SAN for anything that parses as one, a DNS name otherwise."""
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _ca_certificate(
    key: ec.EllipticCurvePrivateKey, not_before: datetime.datetime, not_after: datetime.datetime
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME)])
    public = key.public_key()
    return (
        _base_builder(name, name, public, not_before, not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )


def _serving_certificate(
    key: ec.EllipticCurvePrivateKey,
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    common_name: str,
    sans: Sequence[str],
    not_before: datetime.datetime,
    not_after: datetime.datetime,
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key())
    return (
        _base_builder(subject, ca_cert.subject, key.public_key(), not_before, not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([san_entry(s) for s in sans]), critical=False)
        .add_extension(aki, critical=False)
        .sign(ca_key, hashes.SHA256())
    )


def _base_builder(
    subject: x509.Name,
    issuer: x509.Name,
    public: ec.EllipticCurvePublicKey,
    not_before: datetime.datetime,
    not_after: datetime.datetime,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _write(path: Path, data: bytes, mode: int, replace: bool) -> None:
    """Write `path` atomically: a reader sees no file or the old one, or the whole new one.

    Without `replace` the file is linked into place, which fails if it exists (no overwrite).
    """
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    except OSError as exc:
        raise CertFileError(f"cannot write {path}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), mode)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        if replace:
            os.replace(tmp, path)
        else:
            os.link(tmp, path)
    except FileExistsError as exc:
        raise CertFileError(
            f"{path} appeared while edgeguard was writing it; left as it is"
        ) from exc
    except OSError as exc:
        raise CertFileError(f"cannot write {path}: {exc.strerror}") from exc
    finally:
        Path(tmp).unlink(missing_ok=True)


def _unique(names: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(names))

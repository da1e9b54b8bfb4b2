"""Hot reload of the serving certificate, after controller-runtime's pkg/certwatcher.

The server holds one outer `SSLContext` whose `sni_callback` points each new handshake at the
newest complete inner context; a bad new pair never replaces a good one. Only this writes it.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import logging
import ssl
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization

log = logging.getLogger("edgeguard.certs")

# TLS 1.2 suites with forward secrecy and AEAD only; TLS 1.3 suites are all strong already.
TLS12_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20"


class CertWatcher:
    """Serves the key pair at `cert_path`/`key_path`, reloading it when the bytes change.

    Content is hashed rather than mtime compared: Kubernetes updates a Secret volume by
    swapping its `..data` symlink, which leaves the visible paths' own mtimes untouched
    (https://kubernetes.io/docs/concepts/configuration/secret/#mounted-secrets-are-updated-automatically).
    Construction never raises on unreadable files: `loaded` stays False, `error` says why
    (serve refuses to start with it) and handshakes are refused until `reload` succeeds.
    Failures of later reloads are logged, each distinct one once.
    """

    def __init__(
        self,
        cert_path: Path,
        key_path: Path,
        client_ca: Path | None = None,
        interval: float = 2.0,
    ) -> None:
        self.cert_path = cert_path
        self.key_path = key_path
        self.client_ca = client_ca
        self.interval = interval
        self._current: ssl.SSLContext | None = None
        self._certificate: x509.Certificate | None = None
        self._digest: bytes | None = None
        self._last_error: str | None = None
        self._outer = self._configured()
        self._outer.sni_callback = self._select
        self._announce = False  # the first load's failure is the caller's to report
        self.reload()
        self._announce = True

    @property
    def context(self) -> ssl.SSLContext:
        """The context to give the server, e.g. `web.TCPSite(ssl_context=watcher.context)`."""
        return self._outer

    @property
    def loaded(self) -> bool:
        return self._current is not None

    @property
    def certificate(self) -> x509.Certificate | None:
        """The leaf certificate new connections are served, if any."""
        return self._certificate

    @property
    def not_after(self) -> datetime.datetime | None:
        return None if self._certificate is None else self._certificate.not_valid_after_utc

    def reload(self) -> bool:
        """Swap in the files' pair if their bytes changed and load; True only on a swap."""
        try:
            contents = [p.read_bytes() for p in self._paths()]
        except OSError as exc:
            failed = Path(str(exc.filename))
            if self.client_ca is not None and failed == self.client_ca:
                self._fail(f"cannot read client CA {failed}: {exc.strerror}")
            else:
                self._fail(self._pair_problem(f"{exc.strerror}: {exc.filename}"))
            return False
        digest = hashlib.sha256(b"\0".join(contents)).digest()
        if digest == self._digest:
            return False
        self._digest = digest
        inner = self._configured()
        certificate, problem = _pair(contents[0], contents[1])
        if certificate is None:
            self._fail(self._pair_problem(problem))
            return False
        try:
            inner.load_cert_chain(self.cert_path, self.key_path)
        except ssl.SSLError as exc:
            self._fail(self._pair_problem(_ssl_reason(exc)))
            return False
        except (OSError, ValueError) as exc:
            self._fail(self._pair_problem(str(exc)))
            return False
        if self.client_ca is not None:
            try:
                x509.load_pem_x509_certificates(contents[2])
                inner.load_verify_locations(cafile=self.client_ca)
            except (ssl.SSLError, OSError, ValueError) as exc:
                reason = (
                    _ssl_reason(exc)
                    if isinstance(exc, ssl.SSLError)
                    else NO_CERTIFICATE
                    if isinstance(exc, ValueError)
                    else str(exc)
                )
                self._fail(f"cannot load client CA {self.client_ca}: {reason}")
                return False
        self._current, self._certificate, self._last_error = inner, certificate, None
        log.info(
            "serving certificate %s loaded: serial %x, not after %s",
            self.cert_path,
            certificate.serial_number,
            certificate.not_valid_after_utc.isoformat(),
        )
        return True

    @property
    def error(self) -> str | None:
        """Why the files on disk are not being served (None when the newest ones are)."""
        return self._last_error

    def _pair_problem(self, reason: str) -> str:
        return (
            f"cannot load serving certificate {self.cert_path} with key {self.key_path}: {reason}"
        )

    async def run(self) -> None:
        """Poll every `interval` seconds until cancelled."""
        while True:
            await asyncio.sleep(self.interval)
            self.reload()

    def _paths(self) -> list[Path]:
        extra = [] if self.client_ca is None else [self.client_ca]
        return [self.cert_path, self.key_path, *extra]

    def _fail(self, problem: str) -> None:
        # A writer that replaces tls.crt and tls.key one by one shows a mismatched pair for a
        # moment; report each distinct failure once rather than on every poll.
        if problem == self._last_error:
            return
        self._last_error = problem
        if self._announce:
            keeping = "the previous certificate" if self.loaded else "no certificate"
            log.error("%s; keeping %s", problem, keeping)

    def _select(
        self, ssl_object: ssl.SSLObject, server_name: str | None, outer: ssl.SSLContext
    ) -> int | None:
        # Runs on every ClientHello, with or without SNI; swapping the reference is atomic.
        if self._current is None:
            return ssl.ALERT_DESCRIPTION_INTERNAL_ERROR
        ssl_object.context = self._current
        return None

    def _configured(self) -> ssl.SSLContext:
        """Protocol policy shared by the outer and inner contexts (OpenSSL reads both)."""
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(TLS12_CIPHERS)
        ctx.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
        if self.client_ca is not None:
            ctx.verify_mode = ssl.CERT_REQUIRED
        return ctx


NO_CERTIFICATE = "it holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
MISMATCH = "the key does not belong to the certificate"


def _pair(cert_pem: bytes, key_pem: bytes) -> tuple[x509.Certificate, str] | tuple[None, str]:
    """The leaf certificate of a PEM chain and its unencrypted key, checked to belong together
    in edgeguard's words (OpenSSL's, such as "PEM lib", name no file and no cause)."""
    try:
        leaf = x509.load_pem_x509_certificates(cert_pem)[0]
    except ValueError:
        return None, f"the certificate file: {NO_CERTIFICATE}"
    try:
        key = serialization.load_pem_private_key(key_pem, password=None)
    except TypeError:
        return None, "the key file holds an encrypted key (edgeguard needs it unencrypted)"
    except (ValueError, UnsupportedAlgorithm):
        return None, "the key file holds no PEM private key (-----BEGIN ... PRIVATE KEY-----)"
    spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(*spki) != leaf.public_key().public_bytes(*spki):
        return None, MISMATCH
    return leaf, ""


def _ssl_reason(exc: ssl.SSLError) -> str:
    if exc.reason == "KEY_VALUES_MISMATCH":
        return MISMATCH
    return str(exc.reason or exc)

"""Provides the long-term identity of a profile: an Ed25519 key and its self-signed certificate.

Syncthing's model: each profile owns one key pair and one self-signed X.509 certificate, and a peer
is known by the SHA-256 of that certificate (its *fingerprint*). The TLS 1.3 transport presents the
certificate (``key_path``/``cert_path`` go to ``SSLContext.load_cert_chain``) and pins the peer's
certificate with ``cadata``; the certificate is its own CA (``BasicConstraints(ca=True)``,
critical), which is what lets OpenSSL accept it as the trust anchor for itself.

On disk, in the profile folder::

    key.pem    PKCS#8 PEM, unencrypted, mode 0600 (created O_EXCL with that mode, fsynced)
    cert.pem   PEM certificate

Loading refuses, with a message that says what to do: a missing half of the pair, a key file
other users can read or write, a file that does not parse, a certificate that does not belong to
the key or has expired. Creation is crash-safe: the certificate is written as ``cert.pem.new``
first, then the key, then the certificate is renamed into place; ``load_or_create`` finishes or
restarts a creation that a crash interrupted (no peer can know an identity that was never
complete), and never replaces a complete identity.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.x509.oid import NameOID

from .errors import IdentityError
from .fingerprint import (
    fingerprint_of,
    format_fingerprint,
    parse_fingerprint,
    short_fingerprint,
)

__all__ = [
    "CERT_FILE",
    "KEY_FILE",
    "Identity",
    "check_peer_certificate",
    "make_certificate",
    "parse_fingerprint",
]

KEY_FILE: Final = "key.pem"
CERT_FILE: Final = "cert.pem"
PENDING_SUFFIX: Final = ".new"
COMMON_NAME: Final = "plntui"
VALIDITY: Final = _dt.timedelta(days=20 * 365 + 5)  # twenty years, leap days included
BACKDATE: Final = _dt.timedelta(days=1)  # tolerate a peer whose clock runs a little behind

_RESTART_HINT: Final = (
    "or move key.pem and cert.pem away to create a new identity "
    "(every paired peer will then need to pair with this device again)"
)


def make_certificate(key: ed25519.Ed25519PrivateKey) -> x509.Certificate:
    """A new self-signed certificate for ``key`` (random serial, valid for twenty years)."""
    now = _dt.datetime.now(_dt.UTC).replace(microsecond=0)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, COMMON_NAME)])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(COMMON_NAME)]), critical=False)
        .sign(key, None)
    )


class Identity:
    """One profile's Ed25519 key and self-signed certificate, and the fingerprint peers pin."""

    __slots__ = ("_cert", "_cert_der", "_fingerprint", "_key", "cert_path", "key_path")

    def __init__(
        self,
        key: ed25519.Ed25519PrivateKey,
        cert: x509.Certificate,
        *,
        key_path: Path | None = None,
        cert_path: Path | None = None,
    ) -> None:
        where = cert_path or "the certificate"
        if _spki(cert.public_key()) != _spki(key.public_key()):
            raise IdentityError(
                f"{where} does not belong to {key_path or 'the key'} (their public keys differ); "
                f"restore the matching pair from a backup, {_RESTART_HINT}"
            )
        try:
            cert.verify_directly_issued_by(cert)
        except (ValueError, TypeError, InvalidSignature):
            raise IdentityError(
                f"{where} is not validly self-signed by its key; "
                f"restore it from a backup, {_RESTART_HINT}"
            ) from None
        self._key = key
        self._cert = cert
        self._cert_der = cert.public_bytes(serialization.Encoding.DER)
        self._fingerprint = fingerprint_of(self._cert_der)
        self.key_path = key_path
        self.cert_path = cert_path

    # -- making and finding identities --------------------------------------------------------

    @classmethod
    def generate(cls) -> Identity:
        """A new identity in memory only (tests, and the first step of ``load_or_create``)."""
        key = ed25519.Ed25519PrivateKey.generate()
        return cls(key, make_certificate(key))

    @classmethod
    def load_or_create(cls, folder: Path) -> Identity:
        """The identity stored in ``folder``, created there (folder included) when it has none."""
        folder = Path(folder)
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise IdentityError(
                f"cannot create the profile folder {folder}: {exc.strerror or exc}"
            ) from None
        _finish_interrupted_create(folder)
        key_path, cert_path = folder / KEY_FILE, folder / CERT_FILE
        if not key_path.exists() and not cert_path.exists():
            return _create(folder)
        return cls.load(folder)

    @classmethod
    def load(cls, folder: Path) -> Identity:
        """The identity stored in ``folder``; ``IdentityError`` when it is absent or unusable."""
        folder = Path(folder)
        key_path, cert_path = folder / KEY_FILE, folder / CERT_FILE
        has_key, has_cert = key_path.exists(), cert_path.exists()
        if not has_key and not has_cert:
            raise IdentityError(
                f"{folder} holds no identity ({KEY_FILE} and {CERT_FILE} are missing)"
            )
        if not has_key:
            raise IdentityError(
                f"{key_path} is missing but {cert_path} exists; restore {KEY_FILE} from a "
                f"backup, {_RESTART_HINT}"
            )
        if not has_cert:
            raise IdentityError(
                f"{cert_path} is missing but {key_path} exists; restore {CERT_FILE} from a "
                f"backup, {_RESTART_HINT}"
            )
        _check_private(key_path)
        key = _parse_key(_read(key_path), key_path)
        cert = _parse_cert(_read(cert_path), cert_path)
        identity = cls(key, cert, key_path=key_path, cert_path=cert_path)
        expires = cert.not_valid_after_utc
        if expires < _dt.datetime.now(_dt.UTC):
            raise IdentityError(
                f"{cert_path} expired on {expires:%Y-%m-%d}; {_RESTART_HINT.removeprefix('or ')}"
            )
        return identity

    # -- what the transport and the trust layer need ------------------------------------------

    @property
    def certificate(self) -> x509.Certificate:
        return self._cert

    @property
    def private_key(self) -> ed25519.Ed25519PrivateKey:
        return self._key

    @property
    def cert_der(self) -> bytes:
        return self._cert_der

    @property
    def cert_pem(self) -> bytes:
        return self._cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        """The private key as unencrypted PKCS#8 PEM: handle with care, never log it."""
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    @property
    def fingerprint(self) -> bytes:
        """SHA-256 of the DER certificate: what peers pin."""
        return self._fingerprint

    @property
    def fingerprint_text(self) -> str:
        """The fingerprint as people read it: ``XXXXXXX-XXXXXXX-...`` (base32, 8 groups)."""
        return format_fingerprint(self._fingerprint)

    @property
    def short_fingerprint(self) -> str:
        """The first group of ``fingerprint_text``: a hint for mDNS names, never proof."""
        return short_fingerprint(self._fingerprint)

    def __repr__(self) -> str:
        return f"Identity({self.fingerprint_text})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Identity) and other._fingerprint == self._fingerprint

    def __hash__(self) -> int:
        return hash(self._fingerprint)


# -- files --------------------------------------------------------------------------------------


def check_peer_certificate(der: bytes, now: _dt.datetime | None = None) -> None:
    """Refuse (``ValueError``, a sentence) a peer certificate this side would never accept in TLS:
    not DER X.509, not an Ed25519 key, not signed by its own key, or outside its validity
    period (not yet valid, or expired) at ``now``. Checked before a certificate is stored."""
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        raise ValueError("the certificate is not a DER X.509 certificate") from None
    key = cert.public_key()
    if not isinstance(key, ed25519.Ed25519PublicKey):
        raise ValueError("the certificate's key is not an Ed25519 key")
    try:
        key.verify(cert.signature, cert.tbs_certificate_bytes)
    except InvalidSignature:
        raise ValueError("the certificate is not signed by its own key") from None
    now = now or _dt.datetime.now(_dt.UTC)
    if cert.not_valid_before_utc > now:
        raise ValueError(
            f"the certificate is not valid before {cert.not_valid_before_utc:%Y-%m-%d}"
        )
    if cert.not_valid_after_utc < now:
        raise ValueError(f"the certificate expired on {cert.not_valid_after_utc:%Y-%m-%d}")


def _spki(public_key: object) -> bytes:
    encode = getattr(public_key, "public_bytes", None)
    if encode is None:  # pragma: no cover - every key type cryptography returns has it
        return b""
    data = encode(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    assert isinstance(data, bytes)
    return data


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise IdentityError(
            f"cannot read {path}: {exc.strerror or exc}; check the file's owner and permissions"
        ) from None


def _check_private(path: Path) -> None:
    if os.name == "nt":  # pragma: no cover - POSIX modes mean nothing there
        return
    try:
        st = path.stat()
    except OSError as exc:
        raise IdentityError(f"cannot inspect {path}: {exc.strerror or exc}") from None
    mode = st.st_mode & 0o777
    if mode & 0o077:
        what = "readable" if mode & 0o044 else "writable"
        raise IdentityError(
            f"{path} is {what} by other users (mode {mode:04o}); anyone who can read it can "
            f"pose as you. Run: chmod 600 {path}"
        )


def _parse_key(data: bytes, path: Path) -> ed25519.Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise IdentityError(
            f"{path} is not a usable private key ({reason}); restore it from a backup, "
            f"{_RESTART_HINT}"
        ) from None
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise IdentityError(
            f"{path} holds a {type(key).__name__} key, but plntui identities are Ed25519; "
            f"{_RESTART_HINT.removeprefix('or ')}"
        )
    return key


def _parse_cert(data: bytes, path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(data)
    except ValueError as exc:
        reason = str(exc).splitlines()[0] if str(exc) else "unreadable"
        raise IdentityError(
            f"{path} is not a usable certificate ({reason}); restore it from a backup, "
            f"{_RESTART_HINT}"
        ) from None


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Create ``path`` (never an existing one) with ``mode`` from the start, write, fsync."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    flags |= getattr(os, "O_NOFOLLOW", 0)
    fd = os.open(path, flags, mode)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        with contextlib.suppress(OSError):
            path.unlink()
        raise
    os.close(fd)


def _fsync_dir(folder: Path) -> None:
    if os.name == "nt":  # pragma: no cover
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # pragma: no cover - some filesystems refuse to open folders
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover
        pass
    finally:
        os.close(fd)


def _create(folder: Path) -> Identity:
    key_path, cert_path = folder / KEY_FILE, folder / CERT_FILE
    pending = folder / (CERT_FILE + PENDING_SUFFIX)
    fresh = Identity.generate()
    try:
        pending.unlink(missing_ok=True)
        _write_new(pending, fresh.cert_pem, 0o644)
        try:
            _write_new(key_path, fresh.key_pem, 0o600)
        except FileExistsError:
            raise IdentityError(
                f"{key_path} appeared while this identity was being created "
                "(is another plntui using this profile?); try again"
            ) from None
        os.replace(pending, cert_path)
        _fsync_dir(folder)
    except OSError as exc:
        raise IdentityError(
            f"cannot write the identity into {folder}: {exc.strerror or exc}"
        ) from None
    return Identity(fresh.private_key, fresh.certificate, key_path=key_path, cert_path=cert_path)


def _finish_interrupted_create(folder: Path) -> None:
    """Complete, or clear the way to redo, a creation that a crash cut short."""
    key_path, cert_path = folder / KEY_FILE, folder / CERT_FILE
    pending = folder / (CERT_FILE + PENDING_SUFFIX)
    if not pending.exists() or cert_path.exists():
        return
    if not key_path.exists():  # died before writing the key: start again
        pending.unlink(missing_ok=True)
        return
    _check_private(key_path)
    key_data, cert_data = _read(key_path), _read(pending)
    try:
        Identity(_parse_key(key_data, key_path), _parse_cert(cert_data, pending), key_path=key_path)
    except IdentityError:
        # The key was torn mid-write (the pair is only complete once cert.pem exists): nothing
        # has ever used this identity, so redoing the creation loses nothing. The torn key is
        # kept aside rather than deleted, in case a person put these files there by hand.
        os.replace(key_path, folder / (KEY_FILE + ".interrupted"))
        pending.unlink(missing_ok=True)
        return
    os.replace(pending, cert_path)
    _fsync_dir(folder)

"""Identity: key and certificate files, refusals with clear messages, fingerprints, and TLS use."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re
import ssl
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import NameOID

from sync.errors import IdentityError, UntrustedPeer
from sync.fingerprint import fingerprint_of, format_fingerprint, short_fingerprint
from sync.identity import CERT_FILE, KEY_FILE, Identity, make_certificate, parse_fingerprint

HUMAN = re.compile(r"^[A-Z2-7]{7}(-[A-Z2-7]{7}){6}-[A-Z2-7]{3}$")


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# -- creating and loading -----------------------------------------------------------------------


def test_load_or_create_writes_a_private_key_and_a_certificate(tmp_path: Path) -> None:
    folder = tmp_path / "profile"
    ident = Identity.load_or_create(folder)
    key, cert = folder / KEY_FILE, folder / CERT_FILE
    assert mode_of(key) == 0o600
    assert mode_of(folder) & 0o077 == 0
    assert key.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")  # PKCS#8
    assert cert.read_bytes().startswith(b"-----BEGIN CERTIFICATE-----")
    assert ident.key_path == key and ident.cert_path == cert
    assert ident.key_pem == key.read_bytes()
    assert ident.cert_pem == cert.read_bytes()
    assert not list(folder.glob("*.new"))


def test_loading_again_gives_the_same_identity_and_never_rewrites(tmp_path: Path) -> None:
    first = Identity.load_or_create(tmp_path)
    before = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    second = Identity.load_or_create(tmp_path)
    third = Identity.load(tmp_path)
    assert first.fingerprint == second.fingerprint == third.fingerprint
    assert first == third and hash(first) == hash(third)
    after = {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in tmp_path.iterdir()}
    assert after == before


def test_certificate_is_a_pinnable_self_signed_ed25519_ca(tmp_path: Path) -> None:
    ident = Identity.load_or_create(tmp_path)
    cert = x509.load_der_x509_certificate(ident.cert_der)
    assert isinstance(cert.public_key(), ed25519.Ed25519PublicKey)
    assert cert.subject == cert.issuer
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "plntui"
    basic = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.critical and basic.value.ca
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.value.get_values_for_type(x509.DNSName) == ["plntui"]
    now = dt.datetime.now(dt.UTC)
    assert dt.timedelta(hours=23) < now - cert.not_valid_before_utc < dt.timedelta(hours=25)
    assert (cert.not_valid_after_utc - now).days >= 20 * 365
    cert.verify_directly_issued_by(cert)
    other = Identity.generate()
    assert other.certificate.serial_number != ident.certificate.serial_number


@pytest.mark.parametrize(
    ("mode", "word"),
    [(0o644, "readable"), (0o640, "readable"), (0o604, "readable"), (0o620, "writable")],
)
def test_a_key_other_users_can_access_is_refused(tmp_path: Path, mode: int, word: str) -> None:
    Identity.load_or_create(tmp_path)
    key = tmp_path / KEY_FILE
    key.chmod(mode)
    with pytest.raises(IdentityError) as caught:
        Identity.load_or_create(tmp_path)
    text = str(caught.value)
    assert f"{key} is {word} by other users (mode {mode:04o})" in text
    assert f"chmod 600 {key}" in text
    key.chmod(0o600)
    assert Identity.load(tmp_path).fingerprint  # the advice works


def test_a_certificate_from_another_key_is_refused(tmp_path: Path) -> None:
    Identity.load_or_create(tmp_path / "a")
    Identity.load_or_create(tmp_path / "b")
    (tmp_path / "a" / CERT_FILE).write_bytes((tmp_path / "b" / CERT_FILE).read_bytes())
    with pytest.raises(IdentityError, match="does not belong to"):
        Identity.load_or_create(tmp_path / "a")


def test_a_certificate_not_signed_by_its_key_is_refused() -> None:
    key, impostor = ed25519.Ed25519PrivateKey.generate(), ed25519.Ed25519PrivateKey.generate()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "plntui")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(impostor, None)
    )
    with pytest.raises(IdentityError, match="not validly self-signed"):
        Identity(key, cert)


@pytest.mark.parametrize("missing", [KEY_FILE, CERT_FILE])
def test_half_a_pair_is_refused_with_advice(tmp_path: Path, missing: str) -> None:
    Identity.load_or_create(tmp_path)
    (tmp_path / missing).unlink()
    with pytest.raises(IdentityError) as caught:
        Identity.load_or_create(tmp_path)
    text = str(caught.value)
    assert f"{tmp_path / missing} is missing" in text
    assert "restore" in text and "pair with this device again" in text
    assert not (tmp_path / missing).exists()  # nothing was silently recreated


def test_load_without_create_refuses_an_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(IdentityError, match="holds no identity"):
        Identity.load(tmp_path)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (KEY_FILE, b"not a key", "is not a usable private key"),
        (KEY_FILE, b"", "is not a usable private key"),
        (
            CERT_FILE,
            b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            "is not a usable certificate",
        ),
    ],
)
def test_unparsable_files_are_refused(
    tmp_path: Path, name: str, content: bytes, message: str
) -> None:
    Identity.load_or_create(tmp_path)
    (tmp_path / name).write_bytes(content)
    with pytest.raises(IdentityError, match=message):
        Identity.load_or_create(tmp_path)
    assert (tmp_path / name).read_bytes() == content  # reported, never replaced


def test_a_key_of_another_type_is_refused(tmp_path: Path) -> None:
    Identity.load_or_create(tmp_path)
    other = ec.generate_private_key(ec.SECP256R1())
    (tmp_path / KEY_FILE).write_bytes(
        other.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(IdentityError, match="plntui identities are Ed25519"):
        Identity.load(tmp_path)


def test_an_unreadable_key_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Identity.load_or_create(tmp_path)
    key = tmp_path / KEY_FILE
    real = Path.read_bytes

    def read_bytes(self: Path) -> bytes:
        if self == key:
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", read_bytes)
    with pytest.raises(IdentityError, match="cannot read .*key.pem: Permission denied; check"):
        Identity.load(tmp_path)


def test_an_expired_certificate_is_refused(tmp_path: Path) -> None:
    ident = Identity.load_or_create(tmp_path)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "plntui")])
    past = dt.datetime(2001, 1, 1, tzinfo=dt.UTC)
    old = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ident.private_key.public_key())
        .serial_number(7)
        .not_valid_before(past)
        .not_valid_after(past + dt.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ident.private_key, None)
    )
    (tmp_path / CERT_FILE).write_bytes(old.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(IdentityError, match="expired on 2001-01-31"):
        Identity.load(tmp_path)


def test_an_interrupted_creation_is_finished(tmp_path: Path) -> None:
    """Crash after the key was written but before cert.pem.new was renamed into place."""
    ident = Identity.generate()
    (tmp_path / "cert.pem.new").write_bytes(ident.cert_pem)
    fd = os.open(tmp_path / KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, ident.key_pem)
    os.close(fd)
    loaded = Identity.load_or_create(tmp_path)
    assert loaded.fingerprint == ident.fingerprint
    assert sorted(p.name for p in tmp_path.iterdir()) == [CERT_FILE, KEY_FILE]


def test_a_creation_torn_while_writing_the_key_starts_again(tmp_path: Path) -> None:
    ident = Identity.generate()
    (tmp_path / "cert.pem.new").write_bytes(ident.cert_pem)
    fd = os.open(tmp_path / KEY_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, ident.key_pem[:20])
    os.close(fd)
    fresh = Identity.load_or_create(tmp_path)
    assert fresh.fingerprint != ident.fingerprint
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        CERT_FILE,
        KEY_FILE,
        "key.pem.interrupted",
    ]
    assert Identity.load(tmp_path) == fresh


def test_a_creation_cut_before_the_key_starts_again(tmp_path: Path) -> None:
    (tmp_path / "cert.pem.new").write_bytes(b"half a cert")
    ident = Identity.load_or_create(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [CERT_FILE, KEY_FILE]
    assert Identity.load(tmp_path) == ident


def test_repr_never_shows_the_key() -> None:
    ident = Identity.generate()
    assert repr(ident) == f"Identity({ident.fingerprint_text})"
    assert "PRIVATE" not in repr(ident)


# -- fingerprints -------------------------------------------------------------------------------


def test_fingerprint_is_sha256_of_the_der_certificate() -> None:
    ident = Identity.generate()
    assert ident.fingerprint == hashlib.sha256(ident.cert_der).digest()
    assert fingerprint_of(ident.cert_der) == ident.fingerprint
    assert len(ident.fingerprint) == 32


def test_fingerprint_text_is_grouped_base32() -> None:
    ident = Identity.generate()
    text = ident.fingerprint_text
    assert HUMAN.match(text), text
    assert ident.short_fingerprint == text.split("-")[0] == short_fingerprint(ident.fingerprint)
    assert len(ident.short_fingerprint) == 7


def test_fingerprint_text_round_trips_in_every_accepted_spelling() -> None:
    for _ in range(20):
        fp = Identity.generate().fingerprint
        text = format_fingerprint(fp)
        for spelling in (
            text,
            text.lower(),
            text.replace("-", ""),
            text.replace("-", " "),
            f"  {text.lower().replace('-', ' - ')}\n",
            fp.hex(),
            fp.hex().upper(),
            " ".join(fp.hex()[i : i + 4] for i in range(0, 64, 4)),
            ":".join(f"{b:02X}" for b in fp),
        ):
            assert parse_fingerprint(spelling) == fp, spelling


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "got 0 characters"),
        ("ABCDEFG", "got 7 characters"),
        ("A" * 51, "52 base32 characters"),
        ("A" * 53, "got 53 characters"),
        ("0" + "A" * 51, "'0' cannot appear"),
        ("A" * 50 + "18", "'1', '8' cannot appear"),
        ("A" * 51 + "B", "last character"),  # 4 padding bits must be zero
        ("g" * 64, "got 64 characters"),
    ],
)
def test_bad_fingerprints_get_clear_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_fingerprint(text)


def test_untrusted_peer_names_the_fingerprint_people_compare() -> None:
    fp = Identity.generate().fingerprint
    err = UntrustedPeer(fp)
    assert format_fingerprint(fp) in str(err) and err.fingerprint == fp


# -- the certificate works with the stdlib ssl module, pinned through cadata ---------------------


def tls_context(ident: Identity, peer: Identity, *, server: bool) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    assert ident.key_path is not None and ident.cert_path is not None
    ctx.load_cert_chain(ident.cert_path, ident.key_path)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = False  # identity is the pinned certificate, compared after the handshake
    ctx.load_verify_locations(cadata=peer.cert_pem.decode())
    return ctx


def handshake(client: ssl.SSLContext, server: ssl.SSLContext) -> tuple[ssl.SSLObject, ...]:
    """A TLS handshake between two in-memory BIO pairs (no sockets)."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    c = client.wrap_bio(c_in, c_out, server_side=False)
    s = server.wrap_bio(s_in, s_out, server_side=True)
    done = {"c": False, "s": False}
    for _ in range(20):
        for name, obj in (("c", c), ("s", s)):
            if not done[name]:
                try:
                    obj.do_handshake()
                    done[name] = True
                except ssl.SSLWantReadError:
                    pass
        s_in.write(c_out.read())
        c_in.write(s_out.read())
        if all(done.values()):
            return c, s
    raise AssertionError("handshake did not finish")


def test_two_identities_complete_a_mutually_pinned_tls13_handshake(tmp_path: Path) -> None:
    alice = Identity.load_or_create(tmp_path / "alice")
    bob = Identity.load_or_create(tmp_path / "bob")
    c, s = handshake(
        tls_context(alice, bob, server=False),
        tls_context(bob, alice, server=True),
    )
    assert c.version() == "TLSv1.3"
    assert fingerprint_of(c.getpeercert(binary_form=True) or b"") == bob.fingerprint
    assert fingerprint_of(s.getpeercert(binary_form=True) or b"") == alice.fingerprint


def test_a_peer_with_another_certificate_fails_the_handshake(tmp_path: Path) -> None:
    alice = Identity.load_or_create(tmp_path / "alice")
    bob = Identity.load_or_create(tmp_path / "bob")
    mallory = Identity.load_or_create(tmp_path / "mallory")
    with pytest.raises(ssl.SSLError):
        handshake(
            tls_context(alice, bob, server=False),  # expects bob
            tls_context(mallory, alice, server=True),
        )


def test_make_certificate_is_fresh_each_time() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    one, two = make_certificate(key), make_certificate(key)
    assert one.serial_number != two.serial_number
    assert Identity(key, one).fingerprint != Identity(key, two).fingerprint

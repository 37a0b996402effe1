"""The broker's TLS material: a site CA and a server certificate it signs, or the user's own.

`vigie broker init --tls` makes them once under <broker dir>/tls/ and reuses them on every rerun,
so that devices that trust the CA keep trusting it. ECDSA P-256: small enough for an ESP32's
mbedTLS to verify quickly, and supported by every MQTT client we use.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from vigie.errors import ConfigError

CA_DAYS = 20 * 365  # the CA lives in devices' flash: replacing it means visiting every gauge
SERVER_DAYS = 5 * 365


@dataclass(frozen=True)
class TlsFiles:
    """What Mosquitto's listener needs, and the CA that clients trust."""

    ca_cert: Path
    server_cert: Path
    server_key: Path


def generated_paths(directory: Path) -> TlsFiles:
    """Where `vigie broker init --tls` keeps its own material.

    Also written: ca.der (the same CA in DER, for firmware whose TLS stack wants DER) and
    ca.key (mode 0600, never read by the broker: only to sign a new server certificate).
    """
    tls = directory / "tls"
    return TlsFiles(tls / "ca.crt", tls / "server.crt", tls / "server.key")


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Communauté de communes des Deux Vallées"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _alt_names(hosts: list[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in dict.fromkeys(["localhost", "127.0.0.1", "::1", *hosts]):
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def make_ca(
    key_path: Path, cert_path: Path, now: dt.datetime
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A new self-signed CA that may sign only end-entity certificates."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("Vigie broker CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    _write(key_path, pem_key, 0o600)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), 0o644)
    _write(cert_path.with_suffix(".der"), cert.public_bytes(serialization.Encoding.DER), 0o644)
    return key, cert


def make_server_cert(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    hosts: list[str],
    files: TlsFiles,
    now: dt.datetime,
) -> None:
    """A server certificate for `hosts` (plus localhost and loopback), signed by the CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0] if hosts else "localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(_alt_names(hosts)), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem_key = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # The broker reads this key after dropping to its own user: hand_to_broker_user() in init.
    _write(files.server_key, pem_key, 0o600)
    _write(files.server_cert, cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _covers(cert_path: Path, hosts: list[str]) -> bool:
    """True if the existing server certificate names every host asked for."""
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    have = {str(v) for v in sans.get_values_for_type(x509.DNSName)}
    have |= {str(v) for v in sans.get_values_for_type(x509.IPAddress)}
    return all(str(n.value) in have for n in _alt_names(hosts))


def ensure_generated(directory: Path, hosts: list[str], now: dt.datetime | None = None) -> TlsFiles:
    """Make the CA and server certificate if missing; reuse them otherwise.

    The CA is kept across reruns. The server certificate is remade (with the same CA) only when
    a host is asked for that it does not name, so a rerun changes nothing the devices see.
    """
    now = now or dt.datetime.now(dt.UTC)
    files = generated_paths(directory)
    files.ca_cert.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    ca_key_path = files.ca_cert.with_name("ca.key")
    if ca_key_path.exists() and files.ca_cert.exists():
        ca_key = serialization.load_pem_private_key(ca_key_path.read_bytes(), password=None)
        if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
            raise ConfigError(f"{ca_key_path} is not the EC key `vigie broker init --tls` makes")
        ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    else:
        ca_key, ca_cert = make_ca(ca_key_path, files.ca_cert, now)
        files.server_cert.unlink(missing_ok=True)
    if not (files.server_cert.exists() and files.server_key.exists() and _covers(files.server_cert, hosts)):
        make_server_cert(ca_key, ca_cert, hosts, files, now)
    return files


def supplied(ca_cert: Path | None, server_cert: Path | None, server_key: Path | None) -> TlsFiles | None:
    """The user's own certificate (VIGIE_BROKER__TLS_*), checked to exist; None if not given."""
    given = [p for p in (ca_cert, server_cert, server_key) if p is not None]
    if not given:
        return None
    if server_cert is None or server_key is None or ca_cert is None:
        raise ConfigError("a supplied broker certificate needs tls_ca_file, tls_cert_file and tls_key_file")
    for path in (ca_cert, server_cert, server_key):
        if not path.is_file():
            raise ConfigError(f"broker TLS file {path} does not exist")
    return TlsFiles(ca_cert.resolve(), server_cert.resolve(), server_key.resolve())

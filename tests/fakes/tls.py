"""Throwaway TLS material for the loopback fakes, generated at test time with `cryptography`.

The fakes serve HTTPS with a server certificate for 127.0.0.1/localhost signed by a private CA; clients
trust that CA through `REQUESTS_CA_BUNDLE` (requests and azure-core both honour it), so the code under test
runs with certificate verification on, exactly as in production.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class TlsMaterial:
    """Paths of a private CA and of a loopback server certificate it signed."""

    ca_bundle: Path
    """PEM of the CA certificate: the value for REQUESTS_CA_BUNDLE."""
    server_cert: Path
    """PEM of the server certificate (SAN 127.0.0.1 and localhost)."""
    server_key: Path
    """PEM of the server's private key (unencrypted)."""

    def server_context(self) -> ssl.SSLContext:
        """An SSL context for a loopback HTTPS server."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.server_cert, self.server_key)
        return context


@dataclass(frozen=True)
class ClientCertificate:
    """A service principal's certificate credential (RSA, as Entra ID requires for client assertions)."""

    pem_path: Path
    """PEM holding the private key and the certificate, the format AZURE_CLIENT_CERTIFICATE_PATH expects."""
    certificate: x509.Certificate
    """The certificate; the fake Entra ID verifies client assertions with its public key."""
    password: str | None
    """The password encrypting the private key, if any."""


def _validity() -> tuple[datetime.datetime, datetime.datetime]:
    now = datetime.datetime.now(datetime.UTC)
    return now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=1)


def _key_ids(builder: x509.CertificateBuilder, public_key, issuer_public_key) -> x509.CertificateBuilder:
    return builder.add_extension(
        x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False
    ).add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public_key), critical=False)


def make_tls_material(directory: Path) -> TlsMaterial:
    """Write a CA and a 127.0.0.1/localhost server certificate into `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    not_before, not_after = _validity()

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "databricks-platform test CA")])
    ca_builder = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    ca_cert = _key_ids(ca_builder, ca_key.public_key(), ca_key.public_key()).sign(ca_key, hashes.SHA256())

    server_key = ec.generate_private_key(ec.SECP256R1())
    server_builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
    )
    server_cert = _key_ids(server_builder, server_key.public_key(), ca_key.public_key()).sign(
        ca_key, hashes.SHA256()
    )

    material = TlsMaterial(
        ca_bundle=directory / "ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server-key.pem",
    )
    material.ca_bundle.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    material.server_cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    material.server_key.write_bytes(
        server_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return material


def make_client_certificate(directory: Path, *, password: str | None = None) -> ClientCertificate:
    """Write a self-signed RSA certificate + key PEM for a service principal's certificate credential."""
    directory.mkdir(parents=True, exist_ok=True)
    not_before, not_after = _validity()
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "databricks-platform test principal")])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(key, hashes.SHA256())
    )
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password.encode()) if password else serialization.NoEncryption()
    )
    pem_path = directory / "principal.pem"
    pem_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
        + certificate.public_bytes(serialization.Encoding.PEM)
    )
    return ClientCertificate(pem_path=pem_path, certificate=certificate, password=password)


def throwaway_private_key_pem() -> str:
    """A private key in PEM, generated now: for tests that check a key's text never reaches a message."""
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()

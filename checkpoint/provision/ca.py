"""The deployment's own certificate authority: the broker's server certificate, the boxes' client
certificates, and the list of the ones revoked.

Theory of operation: one EC P-256 key and a self-signed CA certificate, created once in `ca/` and
kept (the key mode 0600). Every certificate it issues gets a random serial, recorded with the
common name in `ca/issued.json`; revoking a common name moves its serials to `ca/revoked.json` and
rewrites the CRL (a PEM file Mosquitto reads as `crlfile`). Client certificates carry the box id as
their common name, which Mosquitto's `use_identity_as_username` turns into the MQTT username that
the ACL is written for. Nothing here talks to the broker.
"""

from __future__ import annotations

import ipaddress
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from checkpoint.provision.files import write_private, write_public

CA_YEARS = 20
LEAF_DAYS = 5 * 365
CRL_DAYS = 3650  # Mosquitto refuses every client while its CRL is past nextUpdate: keep it far out


class CertificateAuthority:
    def __init__(self, directory: Path, name: str = "checkpoint deployment CA") -> None:
        self.dir = Path(directory)
        self.name = name

    @property
    def cert_path(self) -> Path:
        return self.dir / "ca.crt"

    @property
    def key_path(self) -> Path:
        return self.dir / "ca.key"

    @property
    def crl_path(self) -> Path:
        return self.dir / "crl.pem"

    def ensure(self) -> CertificateAuthority:
        """Create the CA (and an empty CRL) unless it exists; never replaces an existing one."""
        if not self.key_path.exists():
            key = ec.generate_private_key(ec.SECP256R1())
            subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, self.name)])
            now = _now()
            cert = (
                x509.CertificateBuilder()
                .subject_name(subject)
                .issuer_name(subject)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(minutes=5))
                .not_valid_after(now + timedelta(days=365 * CA_YEARS))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(
                    x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
                )
                .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                .sign(key, hashes.SHA256())
            )
            write_private(self.key_path, _key_pem(key))
            write_public(self.cert_path, cert.public_bytes(serialization.Encoding.PEM))
        if not self.crl_path.exists():
            self._write_crl()
        return self

    def issue(self, common_name: str, *, server_names: list[str] | None = None) -> tuple[bytes, bytes]:
        """A new key and certificate (PEM) for a client (`common_name` = box id) or, with
        `server_names`, for the broker (DNS names or IP addresses it is reached by)."""
        ca_key, ca_cert = self._load()
        key = ec.generate_private_key(ec.SECP256R1())
        now = _now()
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server_names else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(ca_cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=LEAF_DAYS))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        )
        if server_names:
            builder = builder.add_extension(x509.SubjectAlternativeName(_alt_names(server_names)), critical=False)
        cert = builder.sign(ca_key, hashes.SHA256())
        issued = self._read_json("issued.json")
        issued.setdefault(common_name, []).append(cert.serial_number)
        self._write_json("issued.json", issued)
        return _key_pem(key), cert.public_bytes(serialization.Encoding.PEM)

    def revoke(self, common_name: str) -> int:
        """Revoke every certificate issued to `common_name`; returns how many were newly revoked."""
        issued = self._read_json("issued.json")
        revoked = self._read_json("revoked.json")
        fresh = [s for s in issued.get(common_name, []) if s not in revoked.get(common_name, [])]
        if fresh:
            revoked.setdefault(common_name, []).extend(fresh)
            self._write_json("revoked.json", revoked)
            self._write_crl()
        return len(fresh)

    def revoked_serials(self) -> set[int]:
        return {s for serials in self._read_json("revoked.json").values() for s in serials}

    def _write_crl(self) -> None:
        ca_key, ca_cert = self._load()
        now = _now()
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca_cert.subject)
            .last_update(now - timedelta(minutes=5))
            .next_update(now + timedelta(days=CRL_DAYS))
        )
        for serial in sorted(self.revoked_serials()):
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(now).build()
            )
        crl = builder.sign(ca_key, hashes.SHA256())
        write_public(self.crl_path, crl.public_bytes(serialization.Encoding.PEM))

    def _load(self) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise TypeError(f"{self.key_path}: not the EC key this CA creates")
        return key, x509.load_pem_x509_certificate(self.cert_path.read_bytes())

    def _read_json(self, name: str) -> dict[str, list[int]]:
        path = self.dir / name
        return json.loads(path.read_text()) if path.exists() else {}

    def _write_json(self, name: str, data: dict[str, list[int]]) -> None:
        write_private(self.dir / name, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())


def _alt_names(names: list[str]) -> list[x509.GeneralName]:
    out: list[x509.GeneralName] = []
    for name in names:
        try:
            out.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            out.append(x509.DNSName(name))
    return out


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _now() -> datetime:
    return datetime.now(UTC)

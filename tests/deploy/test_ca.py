"""The deployment CA: chains that verify, names in the broker's certificate, a CRL that revokes."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from cryptography import x509

from checkpoint.provision.ca import CertificateAuthority


def test_the_ca_is_created_once_and_kept(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "ca").ensure()
    first = ca.cert_path.read_bytes()
    assert oct(ca.key_path.stat().st_mode & 0o777) == "0o600"
    CertificateAuthority(tmp_path / "ca").ensure()
    assert ca.cert_path.read_bytes() == first


def test_issued_certificates_chain_to_the_ca(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "ca").ensure()
    root = x509.load_pem_x509_certificate(ca.cert_path.read_bytes())
    _, client_pem = ca.issue("box-1")
    _, server_pem = ca.issue("broker", server_names=["mqtt.county.example", "10.0.0.5"])
    client, server = (x509.load_pem_x509_certificate(p) for p in (client_pem, server_pem))
    for cert in (client, server):
        cert.verify_directly_issued_by(root)
    assert client.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value == "box-1"
    names = server.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["mqtt.county.example"]
    assert names.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("10.0.0.5")]


def test_revoking_a_name_puts_all_its_certificates_in_the_crl(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "ca").ensure()
    old = x509.load_pem_x509_certificate(ca.issue("box-1")[1])
    new = x509.load_pem_x509_certificate(ca.issue("box-1")[1])
    other = x509.load_pem_x509_certificate(ca.issue("box-2")[1])
    assert ca.revoke("box-1") == 2
    assert ca.revoke("box-1") == 0  # nothing new: the CRL is not rewritten
    crl = x509.load_pem_x509_crl(ca.crl_path.read_bytes())
    root = x509.load_pem_x509_certificate(ca.cert_path.read_bytes())
    assert crl.is_signature_valid(root.public_key())  # type: ignore[arg-type]
    revoked = {r.serial_number for r in crl}
    assert {old.serial_number, new.serial_number} == revoked
    assert other.serial_number not in revoked

"""The secure lab (``lab up --security sasl_ssl``): TLS everywhere, SCRAM-SHA-512 users, ACLs.

Everything secret lives in DIR/secrets (mode 0700, every file 0600): a CA made for this lab,
one certificate for its nodes (SAN 127.0.0.1 and localhost), and one password file per user.

- Clients reach the brokers on SASL_SSL listeners with SCRAM-SHA-512; the brokers talk to each
  other there too, as the super user ``admin``.
- The controllers listen on SSL with client certificates required: a node proves itself with
  the node certificate, whose principal ``User:CN=kafka-dr-lab-node`` is a super user.
- The StandardAuthorizer runs with ``allow.everyone.if.no.acl.found=false``: users other than
  the super users can do only what their ACLs grant.
- Users: ``admin`` (the lab's own tools), ``kafka-dr`` (kafka-dr's principal in the lab's
  config), ``mirrormaker`` (MirrorMaker 2 and Connect), ``lab-apps`` (the lab's client apps).
  Their SCRAM credentials are written when the storage is formatted, as salted passwords: no
  password is ever on a command line.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import ipaddress
import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dr.config.schema import ClusterSettings
from dr.errors import LabError

Security = Literal["plaintext", "sasl_ssl"]
SECURITY_MODES: tuple[Security, ...] = ("plaintext", "sasl_ssl")
MECHANISM = "SCRAM-SHA-512"
SCRAM_ITERATIONS = 4096
ADMIN, KAFKA_DR, MIRRORMAKER, APPS = "admin", "kafka-dr", "mirrormaker", "lab-apps"
USERS = (ADMIN, KAFKA_DR, MIRRORMAKER, APPS)
NODE_CN = "kafka-dr-lab-node"
NODE_PRINCIPAL = f"User:CN={NODE_CN}"
SECRETS_DIR = "secrets"
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
SCRAM_MODULE = "org.apache.kafka.common.security.scram.ScramLoginModule"


@dataclass(frozen=True)
class LabSecrets:
    """Where the secure lab keeps its CA, node certificate and passwords."""

    dir: Path

    @property
    def ca_file(self) -> Path:
        return self.dir / "ca.pem"

    @property
    def node_keystore(self) -> Path:
        """The nodes' private key and certificate chain, one PEM file (Kafka's PEM keystore)."""
        return self.dir / "node.pem"

    def password_file(self, user: str) -> Path:
        return self.dir / f"{user}.password"

    def password(self, user: str) -> str:
        try:
            return self.password_file(user).read_text().strip()
        except OSError as exc:
            raise LabError(f"the secure lab's password of '{user}' is unreadable: {exc}") from None

    def client_properties(self, user: str) -> dict[str, str]:
        """librdkafka settings that connect as ``user`` (its password revealed)."""
        return {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": MECHANISM,
            "sasl.username": user,
            "sasl.password": self.password(user),
            "ssl.ca.location": str(self.ca_file),
        }

    def config_client(self, user: str) -> dict[str, str]:
        """The same settings as the lab's config writes them: the password a ${file:} one."""
        props = self.client_properties(user)
        props["sasl.password"] = f"${{file:{self.password_file(user)}}}"
        return props


def lab_secrets(lab_dir: Path) -> LabSecrets:
    return LabSecrets(lab_dir / SECRETS_DIR)


def create_secrets(lab_dir: Path) -> LabSecrets:
    """A new CA, node certificate and passwords in DIR/secrets (0700, files 0600)."""
    found = lab_secrets(lab_dir)
    found.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(found.dir, 0o700)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kafka-dr lab CA")])
    now = datetime.datetime.now(datetime.UTC)
    valid = (now - datetime.timedelta(hours=1), now + datetime.timedelta(days=365))
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
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
        .sign(ca_key, hashes.SHA256())
    )
    node_key = ec.generate_private_key(ec.SECP256R1())
    node_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NODE_CN)]))
        .issuer_name(ca_name)
        .public_key(node_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(valid[0])
        .not_valid_after(valid[1])
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage(
                [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    write_private(found.ca_file, ca_cert.public_bytes(pem))
    key_pem = node_key.private_bytes(
        pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    write_private(found.node_keystore, key_pem + node_cert.public_bytes(pem))
    for user in USERS:
        write_private(found.password_file(user), secrets.token_urlsafe(24).encode())
    return found


def node_properties(found: LabSecrets) -> dict[str, str]:
    """The server.properties entries that secure a node (see the module's description)."""
    admin = found.password(ADMIN)
    jaas = f'{SCRAM_MODULE} required username="{ADMIN}" password="{admin}";'
    return {
        "listener.security.protocol.map": "SASL_SSL:SASL_SSL,CONTROLLER:SSL",
        "inter.broker.listener.name": "SASL_SSL",
        "sasl.enabled.mechanisms": MECHANISM,
        "sasl.mechanism.inter.broker.protocol": MECHANISM,
        "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": jaas,
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(found.node_keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(found.ca_file),
        "listener.name.controller.ssl.client.auth": "required",
        "authorizer.class.name": AUTHORIZER,
        "super.users": f"User:{ADMIN};{NODE_PRINCIPAL}",
        "allow.everyone.if.no.acl.found": "false",
    }


def scram_format_args(found: LabSecrets) -> list[str]:
    """``--add-scram`` arguments of the storage tool for every lab user, as salted passwords
    (the tool's command line shows no password)."""
    args: list[str] = []
    for user in USERS:
        salt = secrets.token_bytes(16)
        salted = hashlib.pbkdf2_hmac(
            "sha512", found.password(user).encode(), salt, SCRAM_ITERATIONS
        )
        b64 = base64.b64encode
        args += [
            "--add-scram",
            f'{MECHANISM}=[name={user},salt="{b64(salt).decode()}",'
            f'saltedpassword="{b64(salted).decode()}",iterations={SCRAM_ITERATIONS}]',
        ]
    return args


def node_security(lab_dir: Path, security: str) -> dict[str, str] | None:
    """A node's security entries in this lab, None on a plaintext lab."""
    return node_properties(lab_secrets(lab_dir)) if security == "sasl_ssl" else None


def admin_settings(lab_dir: Path, security: str, bootstrap_servers: str) -> ClusterSettings:
    """Settings for the lab's own tools on a lab cluster: the super user on a secure lab."""
    client = lab_secrets(lab_dir).client_properties(ADMIN) if security == "sasl_ssl" else {}
    return ClusterSettings.model_validate(
        {"bootstrap_servers": bootstrap_servers, "client": client}
    )


def user_client_conf(lab_dir: Path, user: str) -> dict[str, str]:
    """librdkafka settings that connect as ``user`` to the lab in lab_dir ({} when the lab is
    a plaintext one); reads the lab's record (lab.json) for its security."""
    path = lab_dir / "lab.json"
    try:
        security = json.loads(path.read_text()).get("security", "plaintext")
    except (OSError, ValueError, AttributeError):
        security = "plaintext"
    return lab_secrets(lab_dir).client_properties(user) if security == "sasl_ssl" else {}


def write_private(path: Path, data: str | bytes) -> None:
    """Write the file readable by its owner only from its first byte (it holds a secret)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(fd, 0o600)  # a file that existed keeps its mode through O_CREAT
        handle.write(data.encode() if isinstance(data, str) else data)

"""Enrollment over TLS (OSSEC's authd and agent-auth).

``receive --enroll`` serves a TLS listener with a self-signed certificate generated on
first start (``enroll.crt`` / ``enroll.key`` in the state directory) and prints its SHA-256
fingerprint. ``send --enroll HOST`` connects, checks the certificate against
``--fingerprint`` when given, sends one JSON line ``{"name", "ip", "password"}`` and receives
one JSON line ``{"key": EXPORTED}`` or ``{"error": WHY}``.
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import hmac
import socket
import ssl
from pathlib import Path
from typing import Any

import orjson
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from hidsctl.diagnostics import logger
from hidsctl.errors import HidsError, ProtocolError, UsageError
from hidsctl.state import atomic_write
from hidsctl.transport.agent import SendSettings
from hidsctl.transport.keys import (AgentKey, KeyFile, export_string, import_string,
                                    keys_path)
from hidsctl.transport.output import BoundedLog

DEFAULT_PORT = 1515
CERT_FILE = "enroll.crt"
KEY_FILE = "enroll.key"
MAX_REQUEST = 4096
TIMEOUT = 10.0


def certificate(state: Path) -> tuple[Path, Path]:
    """The listener's certificate and key, generated on first use."""
    cert_path, key_path = state / CERT_FILE, state / KEY_FILE
    if cert_path.exists() and key_path.exists():
        return cert_path, key_path
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"hidsctl {socket.gethostname()}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=3650))
            .sign(key, hashes.SHA256()))
    atomic_write(key_path, key.private_bytes(serialization.Encoding.PEM,
                                             serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()), mode=0o600)
    atomic_write(cert_path, cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    return cert_path, key_path


def fingerprint(der: bytes) -> str:
    digest = hashlib.sha256(der).hexdigest().upper()
    return "SHA256:" + ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def normalise_fingerprint(text: str) -> str:
    value = text.strip().upper().removeprefix("SHA256:").replace(":", "")
    if len(value) != 64 or any(c not in "0123456789ABCDEF" for c in value):
        raise UsageError("--fingerprint must be a SHA-256 fingerprint (64 hex digits, "
                         "colons allowed)")
    return value


def cert_fingerprint(cert_path: Path) -> str:
    cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
    return fingerprint(cert.public_bytes(serialization.Encoding.DER))


class EnrollServer:
    def __init__(self, state: Path, keys: KeyFile, password: str | None, replace: bool,
                 log: BoundedLog):
        self.state = state
        self.keys = keys
        self.password = password
        self.replace = replace
        self.log = log

    async def start(self, address: str) -> list[str]:
        from hidsctl.transport.addresses import parse_address

        cert_path, key_path = certificate(self.state)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(cert_path, key_path)
        host, port = parse_address(address, DEFAULT_PORT)
        try:
            server = await asyncio.start_server(self.client, host, port, ssl=context,
                                                reuse_address=True, limit=MAX_REQUEST)
        except OSError as exc:
            raise ProtocolError(f"cannot listen for enrollment on {address}: "
                                f"{exc.strerror}") from None
        port = server.sockets[0].getsockname()[1]
        notes = [f"listening on enroll tls {host}:{port}",
                 f"enrollment certificate fingerprint {cert_fingerprint(cert_path)}"]
        if not self.password:
            notes.append("warning: enrollment without a password; anyone who can connect "
                         "gets a key")
        return notes

    async def client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername")
        address = peer[0] if peer else "?"
        try:
            line = await asyncio.wait_for(reader.readline(), TIMEOUT)
            reply = self.answer(line, address)
        except (asyncio.TimeoutError, ValueError, ConnectionError, ssl.SSLError):
            reply = {"error": "bad request"}
        try:
            writer.write(orjson.dumps(reply) + b"\n")
            await asyncio.wait_for(writer.drain(), TIMEOUT)
            writer.close()
        except (ConnectionError, asyncio.TimeoutError, ssl.SSLError):
            pass

    def answer(self, line: bytes, address: str) -> dict[str, Any]:
        try:
            request = orjson.loads(line)
        except orjson.JSONDecodeError:
            return {"error": "bad request"}
        if not isinstance(request, dict):
            return {"error": "bad request"}
        given = request.get("password")
        if self.password and not (isinstance(given, str) and hmac.compare_digest(
                given.encode(), self.password.encode())):
            self.log.report("enroll_denied", address, "enrollment with a wrong password")
            return {"error": "wrong password"}
        name, ip = request.get("name"), request.get("ip") or "any"
        if not isinstance(name, str) or not isinstance(ip, str):
            return {"error": "bad request"}
        try:
            self.keys.reload()
            existing = self.keys.by_name(name)
            if existing is not None and self.replace:
                self.keys.remove(existing.id)
            key = self.keys.add(name, ip, existing.id if existing and self.replace else None)
        except HidsError as exc:
            return {"error": exc.message}
        self.log.report("agent_enrolled", address, f"agent {key.id} ({key.name}) enrolled",
                        agent_id=key.id)
        return {"key": export_string(key)}


def enroll_agent(settings: SendSettings, state: Path) -> AgentKey:
    """The agent side: obtain a key and store it in the state directory's keys file."""
    from hidsctl.transport.addresses import parse_address

    assert settings.enroll is not None  # called for send --enroll
    host, port = parse_address(settings.enroll, DEFAULT_PORT)
    pinned = normalise_fingerprint(settings.fingerprint) if settings.fingerprint else None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # self-signed: trust comes from the pinned fingerprint
    request = {"name": settings.name or socket.gethostname(), "ip": "any",
               "password": settings.password}
    try:
        with socket.create_connection((host, port), timeout=TIMEOUT) as raw, \
                context.wrap_socket(raw) as tls:
            seen = fingerprint(tls.getpeercert(binary_form=True) or b"")
            if pinned and seen.removeprefix("SHA256:").replace(":", "") != pinned:
                raise ProtocolError(f"server certificate {seen} does not match --fingerprint; "
                                    f"not enrolling")
            if not pinned:
                logger("send").warning(f"enrolling with unpinned server certificate {seen}")
            tls.sendall(orjson.dumps(request) + b"\n")
            reply = _read_line(tls)
    except (OSError, ssl.SSLError) as exc:
        raise ProtocolError(f"cannot enroll with {host}:{port}: "
                            f"{getattr(exc, 'strerror', None) or exc}") from None
    try:
        answer = orjson.loads(reply)
    except orjson.JSONDecodeError:
        raise ProtocolError("enrollment server sent a malformed reply") from None
    if not isinstance(answer, dict) or "key" not in answer:
        why = answer.get("error") if isinstance(answer, dict) else None
        raise ProtocolError(f"enrollment refused: {why or 'no reason given'}")
    key = import_string(str(answer["key"]))
    keyfile = KeyFile.open(keys_path(state))
    for other in [k for k in keyfile.keys.values() if k.name == key.name or k.id == key.id]:
        del keyfile.keys[other.id]
    keyfile.keys[key.id] = key
    keyfile.save()
    return key


def _read_line(tls: ssl.SSLSocket) -> bytes:
    data = b""
    while b"\n" not in data and len(data) < MAX_REQUEST * 2:
        chunk = tls.recv(4096)
        if not chunk:
            break
        data += chunk
    return data.split(b"\n", 1)[0]

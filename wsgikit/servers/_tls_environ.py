"""mod_ssl's environ names for a TLS connection: ``SSL_PROTOCOL``, ``SSL_CIPHER``, and the client
certificate's ``SSL_CLIENT_S_DN``, ``SSL_CLIENT_I_DN`` and ``SSL_CLIENT_VERIFY``, so that apps
written for Apache (and middleware reading those names) work unchanged::

    environ.update(tls_environ(ssl_socket))   # after the handshake
    distinguished_name(cert["subject"])       # "CN=alice,O=Example,C=DE"
"""

from __future__ import annotations

import ssl
from typing import Any

__all__ = ["distinguished_name", "tls_environ"]

# The names mod_ssl uses in SSL_CLIENT_S_DN (RFC 4514 short names where there is one).
_DN_NAMES = {
    "commonName": "CN",
    "countryName": "C",
    "localityName": "L",
    "stateOrProvinceName": "ST",
    "organizationName": "O",
    "organizationalUnitName": "OU",
    "streetAddress": "STREET",
    "domainComponent": "DC",
    "userId": "UID",
}


def tls_environ(sock: ssl.SSLSocket) -> dict[str, str]:
    """mod_ssl's names for the connection: SSL_PROTOCOL, SSL_CIPHER, and the client
    certificate's SSL_CLIENT_S_DN / SSL_CLIENT_I_DN with SSL_CLIENT_VERIFY (SUCCESS or NONE)."""
    found: dict[str, str] = {"SSL_CLIENT_VERIFY": "NONE"}
    version = sock.version()
    if version:
        found["SSL_PROTOCOL"] = version
    cipher = sock.cipher()
    if cipher:
        found["SSL_CIPHER"] = cipher[0]
    cert = sock.getpeercert()  # only a verified certificate is returned (with a CA)
    if cert:
        found["SSL_CLIENT_VERIFY"] = "SUCCESS"
        found["SSL_CLIENT_S_DN"] = distinguished_name(cert.get("subject", ()))
        found["SSL_CLIENT_I_DN"] = distinguished_name(cert.get("issuer", ()))
    return found


def distinguished_name(rdns: Any) -> str:
    """RFC 4514 text (most specific first, as mod_ssl): ``CN=alice,O=Example,C=DE``."""
    parts = []
    for rdn in reversed(rdns):
        parts.append("+".join(f"{_DN_NAMES.get(k, k)}={_escape(v)}" for k, v in rdn))
    return ",".join(parts)


def _escape(value: str) -> str:
    out = "".join("\\" + c if c in ',+"\\<>;=' else c for c in value)
    if out[:1] in ("#", " "):
        out = "\\" + out
    if out.endswith(" "):
        out = out[:-1] + "\\ "
    return out

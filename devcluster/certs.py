"""Self-signed PKI for the local control plane, made with the openssl command line tool."""

from __future__ import annotations

import subprocess
from pathlib import Path


def _openssl(*args: str) -> None:
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _signed(pki: Path, name: str, subject: str, extensions: str) -> None:
    ext = pki / f"{name}.ext"
    ext.write_text(extensions + "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n")
    _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(pki / f"{name}.key"),
             "-out", str(pki / f"{name}.csr"), "-subj", subject)
    _openssl("x509", "-req", "-in", str(pki / f"{name}.csr"), "-CA", str(pki / "ca.crt"), "-CAkey",
             str(pki / "ca.key"), "-CAcreateserial", "-days", "3650", "-out", str(pki / f"{name}.crt"),
             "-extfile", str(ext))


def make_pki(pki: Path, node: tuple[str, str] | None = None) -> None:
    """CA, API server serving certificate, admin client certificate and the service account key pair; with `node`
    (its name and IP) the real node's client certificates too: the kubelet's as system:node:<name> (the Node
    authorizer limits it to its own pods' objects), kube-proxy's, and the API server's to call the kubelet."""
    pki.mkdir(parents=True, exist_ok=True)
    # The extensions a strict verifier (Python 3.13's ssl, as in the charts' images) requires of a CA and of the
    # certificates it signs: key usage on the CA, key identifiers on both.
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(pki / "ca.key"),
             "-out", str(pki / "ca.crt"), "-days", "3650", "-subj", "/CN=devcluster-ca",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-addext", "subjectKeyIdentifier=hash")
    sans = ",".join(["IP:127.0.0.1", "IP:10.96.0.1", *([f"IP:{node[1]}"] if node else []), "DNS:localhost", "DNS:kubernetes", "DNS:kubernetes.default",
                     "DNS:kubernetes.default.svc", "DNS:kubernetes.default.svc.cluster.local"])
    _signed(pki, "apiserver", "/CN=kube-apiserver",
            f"subjectAltName={sans}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n")
    # O=system:masters: the admin client is a cluster superuser under RBAC.
    _signed(pki, "admin", "/O=system:masters/CN=devcluster-admin",
            "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n")
    if node:
        client = "extendedKeyUsage=clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n"
        _signed(pki, "kubelet", f"/O=system:nodes/CN=system:node:{node[0]}", client)
        _signed(pki, "kube-proxy", "/CN=system:kube-proxy", client)  # bound to system:node-proxier by default
        _signed(pki, "apiserver-kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client", client)
    _openssl("genrsa", "-out", str(pki / "sa.key"), "2048")
    _openssl("rsa", "-in", str(pki / "sa.key"), "-pubout", "-out", str(pki / "sa.pub"))

"""Certificates for the TLS tests, made with the openssl command in a directory of the test's (no private
key is committed): a CA and a second one, server, client and member certificates signed by them with the
usages and SANs each test needs, a revoked one with its CRL, intermediates."""
import os
import shutil
import subprocess
import tempfile

import pytest


def openssl(*args, cwd):
    res = subprocess.run(["openssl"] + list(args), cwd=cwd, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, "openssl %s failed:\n%s" % (" ".join(args), res.stderr)
    return res.stdout


class Pki:
    """A CA, certificates it signs (server, clients with and without clientAuth, a revoked one with its
    CRL, an expired one), and a second CA with a server and a client certificate of its own."""

    def __init__(self, d):
        self.dir = d
        with open(os.path.join(d, "ca.cnf"), "w") as f:
            f.write("[ca]\ndefault_ca=own\n[own]\ndatabase=index.txt\ndefault_md=sha256\n"
                    "crlnumber=crlnumber\ndefault_crl_days=1\nnew_certs_dir=.\nserial=ca.serial\n"
                    "policy=any\n[any]\ncommonName=supplied\n")
        open(os.path.join(d, "index.txt"), "w").close()
        with open(os.path.join(d, "crlnumber"), "w") as f:
            f.write("01\n")
        with open(os.path.join(d, "ca.serial"), "w") as f:
            f.write("7001\n")
        for ca in ("ca", "ca2"):
            openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", ca + ".key", "-out", ca + ".pem", "-days", "2", "-subj", "/CN=" + ca,
                    "-addext", "basicConstraints=critical,CA:TRUE",
                    "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=d)
        self.sign("server", "serverAuth", "IP:127.0.0.1,DNS:localhost")
        self.sign("server2", "serverAuth", "IP:127.0.0.1", ca="ca2")
        self.sign("client", "clientAuth", "DNS:client.example")
        self.sign("both", "serverAuth,clientAuth", "DNS:other.example")
        self.sign("noclientauth", "serverAuth", "DNS:client.example")
        self.sign("revoked", "clientAuth", "DNS:client.example")
        self.sign("foreign", "clientAuth", "DNS:client.example", ca="ca2")
        self.sign("expired", "clientAuth", "DNS:client.example", valid=("20200101000000Z", "20200102000000Z"))
        # members: both usages, as etcd's peer certificates (they serve and dial)
        self.sign("member", "serverAuth,clientAuth", "IP:127.0.0.1")
        self.sign("member2", "serverAuth,clientAuth", "IP:127.0.0.2")
        self.sign("memberforeign", "serverAuth,clientAuth", "IP:127.0.0.1", ca="ca2")
        # an intermediate CA restricted to serverAuth: Go (and so etcd) refuses the clientAuth leaf below it
        self.sign("inter", "serverAuth", "DNS:inter.example", ca="ca", extra="basicConstraints=critical,CA:TRUE\n")
        self.sign("interleaf", "clientAuth", "DNS:client.example", ca="inter")
        # ... and the same shape with the intermediate allowing clientAuth, which is served
        self.sign("interok", "serverAuth,clientAuth", "DNS:inter.example", ca="ca",
                  extra="basicConstraints=critical,CA:TRUE\n")
        self.sign("interokleaf", "clientAuth", "DNS:client.example", ca="interok")
        for chain, names in (("interchain", ("interleaf", "inter")), ("interokchain", ("interokleaf", "interok"))):
            with open(self.path(chain + ".pem"), "w") as out:
                for name in names:
                    with open(self.path(name + ".pem")) as f:
                        out.write(f.read())
        openssl("ca", "-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.pem", "-revoke", "revoked.pem",
                cwd=d)
        openssl("ca", "-config", "ca.cnf", "-keyfile", "ca.key", "-cert", "ca.pem", "-gencrl", "-out",
                "crl.pem", cwd=d)

    def sign(self, name, eku, san, ca="ca", extra="", valid=None):
        """A certificate for one day from now, or valid = (start, end) as openssl ca's dates (the CA "ca")."""
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                name + ".key", "-out", name + ".csr", "-subj", "/CN=" + name, cwd=self.dir)
        usage = "keyCertSign" if extra else "digitalSignature"
        with open(os.path.join(self.dir, name + ".ext"), "w") as f:
            f.write("extendedKeyUsage=%s\nsubjectAltName=%s\nkeyUsage=critical,%s\n%s" % (eku, san, usage, extra))
        if valid:  # x509 -req (OpenSSL 3.0) cannot date a certificate in the past; ca can
            openssl("ca", "-batch", "-config", "ca.cnf", "-keyfile", ca + ".key", "-cert", ca + ".pem", "-in",
                    name + ".csr", "-out", name + ".pem", "-startdate", valid[0], "-enddate", valid[1],
                    "-extfile", name + ".ext", "-notext", cwd=self.dir)
            return
        openssl("x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
                "-CAcreateserial", "-out", name + ".pem", "-days", "1", "-extfile", name + ".ext",
                cwd=self.dir)

    def path(self, name):
        return os.path.join(self.dir, name)


@pytest.fixture(scope="module")
def pki():
    """A Pki in a temporary directory, removed after the module's tests (import it into a test module)."""
    d = tempfile.mkdtemp(prefix="lkv-pki-")
    try:
        yield Pki(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)

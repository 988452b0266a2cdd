#!/usr/bin/env python3
"""Makes what the NATS security tests need, in DIR, and prints a JSON index of it.

- TLS: a CA, a server certificate for 127.0.0.1/localhost and a client certificate signed by
  it, and a second CA that signs nothing the server trusts (openssl).
- An NKey user: a seed file and its public key; a second seed no server lists (nkeys).
- A token, in a file.
- Operator mode: an operator, a system account and an application account (JWTs in the
  server's memory resolver), a .creds file of a user of the application account, and one of a
  user of an account the server does not know (nkeys signs; the JWTs are encoded here, in the
  format of nats-io/jwt v2: header {"typ":"JWT","alg":"ed25519-nkey"}, base64url parts).

Usage: nats_security.py DIR
"""
import base64
import hashlib
import json
import os
import secrets
import subprocess
import sys
import time

import nkeys


def new_pair(prefix):
    return nkeys.from_seed(nkeys.encode_seed(secrets.token_bytes(32), prefix))


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(claims, signer):
    """A NATS JWT of `claims`, issued and signed by the key pair `signer`."""
    claims = dict(claims, iat=int(time.time()), iss=signer.public_key.decode())
    claims["jti"] = base64.b32encode(hashlib.sha256(json.dumps(claims, sort_keys=True).encode()).digest()).decode().rstrip("=")
    head = b64(json.dumps({"typ": "JWT", "alg": "ed25519-nkey"}).encode())
    body = b64(json.dumps(claims).encode())
    return f"{head}.{body}.{b64(signer.sign(f'{head}.{body}'.encode()))}"


UNLIMITED = {"subs": -1, "data": -1, "payload": -1, "imports": -1, "exports": -1, "wildcards": True, "conn": -1, "leaf": -1}
JETSTREAM = {"mem_storage": -1, "disk_storage": -1, "streams": -1, "consumer": -1}


def account_jwt(name, account, operator, jetstream):
    limits = dict(UNLIMITED, **(JETSTREAM if jetstream else {}))
    return jwt({"name": name, "sub": account.public_key.decode(),
                "nats": {"limits": limits, "default_permissions": {"pub": {}, "sub": {}}, "type": "account", "version": 2}},
               operator)


def creds(name, account, path):
    user = new_pair(nkeys.PREFIX_BYTE_USER)
    token = jwt({"name": name, "sub": user.public_key.decode(),
                 "nats": {"pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1, "type": "user", "version": 2}},
                account)
    with open(path, "w") as f:
        f.write(f"-----BEGIN NATS USER JWT-----\n{token}\n------END NATS USER JWT------\n\n"
                f"************************* IMPORTANT *************************\n"
                f"NKEY Seed printed below can be used to sign and prove identity.\n\n"
                f"-----BEGIN USER NKEY SEED-----\n{user.seed.decode()}\n------END USER NKEY SEED------\n")


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def certificates(d):
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN=Baton test {ca}",
                "-keyout", f"{d}/{ca}.key", "-out", f"{d}/{ca}.pem")
    for name, extension in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth"),
                            ("client", "extendedKeyUsage=clientAuth")):
        with open(f"{d}/{name}.ext", "w") as f:
            f.write(extension + "\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN=baton-test-{name}",
                "-keyout", f"{d}/{name}.key", "-out", f"{d}/{name}.csr")
        openssl("x509", "-req", "-in", f"{d}/{name}.csr", "-CA", f"{d}/ca.pem", "-CAkey", f"{d}/ca.key",
                "-CAcreateserial", "-days", "2", "-extfile", f"{d}/{name}.ext", "-out", f"{d}/{name}.pem")


def main(d):
    os.makedirs(d, exist_ok=True)
    certificates(d)
    index = {name: f"{d}/{name}" for name in
             ("ca.pem", "other-ca.pem", "server.pem", "server.key", "client.pem", "client.key")}

    for name in ("user", "stranger"):
        pair = new_pair(nkeys.PREFIX_BYTE_USER)
        with open(f"{d}/{name}.nk", "w") as f:
            f.write(pair.seed.decode() + "\n")
        index[f"{name}.nk"] = f"{d}/{name}.nk"
        index[f"{name}.pub"] = pair.public_key.decode()

    index["token"] = secrets.token_hex(16)
    with open(f"{d}/token.txt", "w") as f:
        f.write(index["token"] + "\n")
    index["token.txt"] = f"{d}/token.txt"

    operator = new_pair(nkeys.PREFIX_BYTE_OPERATOR)
    system, app, unknown = (new_pair(nkeys.PREFIX_BYTE_ACCOUNT) for _ in range(3))
    with open(f"{d}/operator.jwt", "w") as f:
        f.write(jwt({"name": "baton-test", "sub": operator.public_key.decode(),
                     "nats": {"system_account": system.public_key.decode(), "type": "operator", "version": 2}}, operator))
    index["operator.jwt"] = f"{d}/operator.jwt"
    index["system.pub"] = system.public_key.decode()
    index["accounts"] = {system.public_key.decode(): account_jwt("SYS", system, operator, jetstream=False),
                         app.public_key.decode(): account_jwt("APP", app, operator, jetstream=True)}
    creds("baton", app, f"{d}/user.creds")
    creds("stranger", unknown, f"{d}/stranger.creds")
    index["user.creds"] = f"{d}/user.creds"
    index["stranger.creds"] = f"{d}/stranger.creds"
    print(json.dumps(index))


if __name__ == "__main__":
    main(sys.argv[1])

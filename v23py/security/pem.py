"""PEM files for keys, read and written the way Go's credentials tools do.

Read: ``PUBLIC KEY`` (PKIX), ``EC PRIVATE KEY`` (SEC1), ``PRIVATE KEY`` (PKCS#8),
either of the last two with legacy RFC 1421 encryption (``Proc-Type: 4,ENCRYPTED``
+ ``DEK-Info``), ``ENCRYPTED PRIVATE KEY`` (PKCS#8 PBES2) and
``VANADIUM INDIRECT PRIVATE KEY`` (a file name pointing at another key file).
Write: ``PRIVATE KEY`` PKCS#8, or ``ENCRYPTED PRIVATE KEY`` with PBES2
(PBKDF2-HMAC-SHA256, 10000 rounds, AES-256-CBC) when a passphrase is given,
and ``PUBLIC KEY`` PKIX.
"""

import binascii
import os
import sys

from cryptography.hazmat.primitives.asymmetric import ec


def _ser():
    # cryptography's serialization package (~10 ms to import): only for keys other than
    # unencrypted ECDSA ones, which are read below without it
    from cryptography.hazmat.primitives import serialization
    return serialization

def _hashlib():
    # (encrypted keys only: hashlib loads a second OpenSSL, ~4 ms of a tool's start)
    import hashlib
    return hashlib


MAX_PEM_FILE = 1 << 20
INDIRECT_TYPE = "VANADIUM INDIRECT PRIVATE KEY"
INDIRECT_HEADER = "Vanadium-Indirection-Type"


class PEMError(ValueError):
    pass


class PassphraseRequired(PEMError):
    def __init__(self, msg="passphrase required"):
        super().__init__(msg)


class BadPassphrase(PEMError):
    def __init__(self, msg="bad passphrase"):
        super().__init__(msg)


class Block:
    __slots__ = ("type", "headers", "data")

    def __init__(self, type_, headers, data):
        self.type = type_
        self.headers = headers
        self.data = data


def decode_blocks(text):
    """All PEM blocks of ``text`` (bytes or str), in order. Garbage between blocks is skipped."""
    if isinstance(text, (bytes, bytearray)):
        text = bytes(text).decode("latin-1")
    if len(text) > MAX_PEM_FILE:
        raise PEMError("PEM data too large (%d bytes)" % len(text))
    blocks = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        if line.startswith("-----BEGIN ") and line.endswith("-----") and len(line) > 16:
            typ = line[len("-----BEGIN "):-5]
            end = "-----END %s-----" % typ
            headers = {}
            body = []
            j = i + 1
            in_headers = True
            ok = False
            while j < len(lines):
                cur = lines[j].strip()
                if cur == end:
                    ok = True
                    break
                if in_headers and ":" in cur:
                    k, _, v = cur.partition(":")
                    headers[k.strip()] = v.strip()
                elif in_headers and cur == "" and headers:
                    in_headers = False
                else:
                    in_headers = False
                    body.append(cur)
                j += 1
            if not ok:
                break
            try:
                data = _b64decode_strict("".join(body))
            except (binascii.Error, ValueError):
                i = j + 1
                continue  # not valid PEM: Go's decoder skips it too
            blocks.append(Block(typ, headers, data))
            i = j + 1
        else:
            i += 1
    return blocks



def _b64decode_strict(text):
    """``base64.b64decode(text, validate=True)``, which from Python 3.11 on is binascii's
    strict decoding: without the base64 module (and its imports) on every tool's path."""
    if sys.version_info >= (3, 11):
        return binascii.a2b_base64(text.encode("ascii"), strict_mode=True)
    import base64
    return base64.b64decode(text, validate=True)

def encode_block(typ, data, headers=None):
    out = ["-----BEGIN %s-----" % typ]
    if headers:
        for k in sorted(headers):
            out.append("%s: %s" % (k, headers[k]))
        out.append("")
    b64 = binascii.b2a_base64(data, newline=False).decode("ascii")
    out.extend(b64[i:i + 64] for i in range(0, len(b64), 64))
    out.append("-----END %s-----" % typ)
    return ("\n".join(out) + "\n").encode("ascii")


# --- legacy RFC 1421 PEM encryption (AES-256-CBC, OpenSSL EVP_BytesToKey/MD5) ---

def _evp_bytes_to_key(passphrase, salt, n):
    out = b""
    prev = b""
    while len(out) < n:
        prev = _hashlib().md5(prev + passphrase + salt).digest()
        out += prev
    return out[:n]


_LEGACY_CIPHERS = {"AES-256-CBC": 32, "AES-192-CBC": 24, "AES-128-CBC": 16}   # AES key bytes


def _aes_cbc(key, iv):
    # loaded when a key is encrypted or decrypted: a tool that only reads an
    # unencrypted principal loads no cipher code
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
    return Cipher(algorithms.AES(key), modes.CBC(iv))


def is_legacy_encrypted(block):
    return "ENCRYPTED" in block.headers.get("Proc-Type", "")


def legacy_decrypt(block, passphrase):
    dek = block.headers.get("DEK-Info", "")
    name, _, ivhex = dek.partition(",")
    if name not in _LEGACY_CIPHERS:
        raise PEMError("unsupported PEM cipher %r" % name)
    try:
        iv = bytes.fromhex(ivhex)
    except ValueError:
        raise PEMError("malformed DEK-Info IV") from None
    if len(iv) != 16 or len(block.data) % 16 or not block.data:
        raise PEMError("malformed encrypted PEM block")
    klen = _LEGACY_CIPHERS[name]
    key = _evp_bytes_to_key(passphrase, iv[:8], klen)
    dec = _aes_cbc(key, iv).decryptor()
    plain = dec.update(block.data) + dec.finalize()
    pad = plain[-1]
    if pad < 1 or pad > 16 or plain[-pad:] != bytes([pad]) * pad:
        raise BadPassphrase()
    return plain[:-pad]


# --- parsing ---

# PKCS#8 DER of an ECDSA key as Go and OpenSSL write it: prefix (version, algorithm and
# curve OIDs, the ECPrivateKey header), the n-byte scalar, mid (the [1] public key header),
# the uncompressed point 04 || X || Y.  By total length: (curve, prefix, n, mid).
_EC_PKCS8 = {
    138: (ec.SECP256R1, bytes.fromhex(
        "308187020100301306072a8648ce3d020106082a8648ce3d030107046d306b0201010420"),
        32, bytes.fromhex("a144034200")),
    185: (ec.SECP384R1, bytes.fromhex(
        "3081b6020100301006072a8648ce3d020106052b8104002204819e30819b0201010430"),
        48, bytes.fromhex("a164036200")),
    241: (ec.SECP521R1, bytes.fromhex(
        "3081ee020100301006072a8648ce3d020106052b810400230481d63081d30201010442"),
        66, bytes.fromhex("a1818903818600")),
}


def _ec_pkcs8(der):
    """The ECDSA private key of PKCS#8 DER in the shape above, or None (then the general
    parser decides).  The whole DER must be what the derived key re-encodes to, so a
    public key that does not belong to the scalar, or any other difference, is not taken
    here."""
    shape = _EC_PKCS8.get(len(der))
    if shape is None:
        return None
    curve, prefix, n, mid = shape
    if not der.startswith(prefix):
        return None
    scalar = der[len(prefix):len(prefix) + n]
    try:
        key = ec.derive_private_key(int.from_bytes(scalar, "big"), curve())
    except (ValueError, TypeError):
        return None
    nums = key.public_key().public_numbers()
    point = b"\x04" + nums.x.to_bytes(n, "big") + nums.y.to_bytes(n, "big")
    return key if prefix + scalar + mid + point == der else None


def _load_private_der(der, password):
    if password is None:
        key = _ec_pkcs8(bytes(der))
        if key is not None:
            return key
    # The RSA consistency check (primality tests) costs ~100 ms for a 4096-bit
    # key and protects nothing here: a broken key only makes bad signatures.
    return _ser().load_der_private_key(der, password=password,
                                       unsafe_skip_rsa_key_validation=True)


def _load_der(der, what):
    try:
        return _load_private_der(der, None)
    except (ValueError, TypeError) as e:
        raise PEMError("failed to parse %s: %s" % (what, e)) from None
    except Exception as e:
        raise PEMError("unsupported %s: %s" % (what, e)) from None


def parse_private_key(data, passphrase=None, follow_links=True, base_dir=None):
    """A ``cryptography`` private key from PEM text as Go's key registrar reads it."""
    if passphrase is not None and isinstance(passphrase, str):
        passphrase = passphrase.encode()
    blocks = decode_blocks(data)
    for block in blocks:
        if block.type == "ENCRYPTED PRIVATE KEY":
            if not passphrase:
                raise PassphraseRequired()
            try:
                return _load_private_der(block.data, passphrase)
            except (ValueError, TypeError) as e:
                # A wrong passphrase usually fails the padding check, but 1 time in
                # ~256 it passes and the decrypted DER is garbage: same cause.  (A
                # corrupt file is reported the same way, as Go mostly does too.)
                raise BadPassphrase() from None
            except Exception as e:
                raise PEMError("unsupported encrypted private key: %s" % e) from None
        if block.type in ("EC PRIVATE KEY", "PRIVATE KEY"):
            der = block.data
            if is_legacy_encrypted(block):
                if not passphrase:
                    raise PassphraseRequired()
                der = legacy_decrypt(block, passphrase)
                try:
                    return _load_private_der(der, None)
                except Exception:
                    # Go's legacy decryption has only a padding check; garbage
                    # after a wrong passphrase shows up here.
                    raise BadPassphrase() from None
            return _load_der(der, block.type)
        if block.type == "OPENSSH PRIVATE KEY":
            return _parse_openssh(block, passphrase)
        if block.type == INDIRECT_TYPE and block.headers.get(INDIRECT_HEADER) == "filename":
            if not follow_links:
                raise PEMError("indirection limit reached for %s" % block.data.decode("utf-8", "replace"))
            name = block.data.decode("utf-8", "replace")
            if base_dir and not os.path.isabs(name):
                name = os.path.join(base_dir, name)
            try:
                with open(name, "rb") as f:
                    target = f.read(MAX_PEM_FILE + 1)
            except OSError as e:
                raise PEMError("failed to read filename in %r: %s" % (block.type, e)) from None
            return parse_private_key(target, passphrase, follow_links=False)
    raise PEMError("processed all PEM blocks without finding a private key")


def _parse_openssh(block, passphrase):
    from cryptography.exceptions import UnsupportedAlgorithm
    serialization = _ser()
    text = encode_block(block.type, block.data)
    try:
        return serialization.load_ssh_private_key(text, password=None)
    except TypeError:
        pass  # encrypted
    except (ValueError, UnsupportedAlgorithm) as e:
        raise PEMError("failed to parse OpenSSH private key: %s" % e) from None
    if not passphrase:
        raise PassphraseRequired()
    try:
        return serialization.load_ssh_private_key(text, password=passphrase)
    except UnsupportedAlgorithm as e:
        raise PEMError("cannot decrypt OpenSSH private key: %s (install the bcrypt module)"
                       % e) from None
    except (ValueError, TypeError):
        raise BadPassphrase() from None


def parse_public_key_der(data):
    """DER PKIX bytes of the first ``PUBLIC KEY`` block (or a certificate's key)."""
    for block in decode_blocks(data):
        if block.type == "PUBLIC KEY":
            return block.data
        if block.type == "CERTIFICATE":
            from cryptography import x509
            try:
                cert = x509.load_der_x509_certificate(block.data)
            except ValueError as e:
                raise PEMError("bad certificate: %s" % e) from None
            serialization = _ser()
            return cert.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    raise PEMError("processed all PEM blocks without finding a public key")


def marshal_private_key(key, passphrase=None):
    """PEM bytes as Go's ``principal create`` writes them today."""
    serialization = _ser()
    der = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    if passphrase:
        if isinstance(passphrase, str):
            passphrase = passphrase.encode()
        return encode_block("ENCRYPTED PRIVATE KEY", pbes2_encrypt(der, passphrase))
    return encode_block("PRIVATE KEY", der)


def _der(tag, body):
    n = len(body)
    if n < 0x80:
        ln = bytes([n])
    else:
        nb = n.to_bytes((n.bit_length() + 7) // 8, "big")
        ln = bytes([0x80 | len(nb)]) + nb
    return bytes([tag]) + ln + body


def _oid(dotted):
    parts = [int(x) for x in dotted.split(".")]
    body = bytes([40 * parts[0] + parts[1]])
    for p in parts[2:]:
        chunk = [p & 0x7F]
        p >>= 7
        while p:
            chunk.append(0x80 | (p & 0x7F))
            p >>= 7
        body += bytes(reversed(chunk))
    return _der(0x06, body)


def _int(n):
    b = n.to_bytes(n.bit_length() // 8 + 1, "big")
    return _der(0x02, b)


def pbes2_encrypt(der, passphrase, iterations=10000, salt_size=8):
    """PKCS#8 EncryptedPrivateKeyInfo: PBES2, PBKDF2-HMAC-SHA256, AES-256-CBC."""
    salt = os.urandom(salt_size)
    iv = os.urandom(16)
    key = _hashlib().pbkdf2_hmac("sha256", passphrase, salt, iterations, 32)
    n = 16 - len(der) % 16
    padded = der + bytes([n]) * n          # PKCS#7 to the AES block
    enc = _aes_cbc(key, iv).encryptor()
    ciphertext = enc.update(padded) + enc.finalize()
    seq = lambda *xs: _der(0x30, b"".join(xs))
    prf = seq(_oid("1.2.840.113549.2.9"), b"\x05\x00")
    kdf = seq(_oid("1.2.840.113549.1.5.12"),
              seq(_der(0x04, salt), _int(iterations), prf))
    scheme = seq(_oid("2.16.840.1.101.3.4.1.42"), _der(0x04, iv))
    alg = seq(_oid("1.2.840.113549.1.5.13"), seq(kdf, scheme))
    return seq(alg, _der(0x04, ciphertext))


def marshal_public_key(public_key):
    """PEM ``PUBLIC KEY`` for a security PublicKey (uses its DER bytes)."""
    return encode_block("PUBLIC KEY", public_key.der)

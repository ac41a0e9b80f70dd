#!/usr/bin/env python3
"""Independent known-answer vectors for core/tests/kat.rs.

Computes WireGuard's handshake with Python's hashlib.blake2s, hmac and the `cryptography`
package (X25519, ChaCha20-Poly1305), following the whitepaper section 5.4 -- no ferrowg
code involved. Run `python3 core/tests/kat_vectors.py` and compare with kat.rs.
"""
import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def H(*parts):
    h = hashlib.blake2s()
    for p in parts:
        h.update(p)
    return h.digest()


def HMAC(key, msg):
    return hmac.new(key, msg, hashlib.blake2s).digest()


def KDF(n, key, inp):
    t0 = HMAC(key, inp)
    out, t = [], b""
    for i in range(1, n + 1):
        t = HMAC(t0, t + bytes([i]))
        out.append(t)
    return out


def MAC(key, msg):
    return hashlib.blake2s(msg, key=key, digest_size=16).digest()


def pub(priv):
    return X25519PrivateKey.from_private_bytes(priv).public_key().public_bytes(
        Encoding.Raw, PublicFormat.Raw)


def DH(priv, pub_):
    return X25519PrivateKey.from_private_bytes(priv).exchange(X25519PublicKey.from_public_bytes(pub_))


def AEAD(key, counter, plain, ad):
    return ChaCha20Poly1305(key).encrypt(b"\0" * 4 + struct.pack("<Q", counter), plain, ad)


CONSTRUCTION = b"Noise_IKpsk2_25519_ChaChaPoly_BLAKE2s"
IDENTIFIER = b"WireGuard v1 zx2c4 Jason@zx2c4.com"

# RFC 7748 section 6.1 key pairs: Alice initiates, Bob responds.
S_i = bytes.fromhex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")
S_r = bytes.fromhex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb")
E_i = bytes(range(32))
E_r = bytes(range(32, 64))
PSK = bytes([0x42] * 32)
I_i, I_r = 0x11223344, 0x55667788
SECS, NANOS = 1_700_000_000, 123_456_789
TS = struct.pack(">QI", 0x400000000000000A + SECS, NANOS & ~0xFFFFFF)

C0 = H(CONSTRUCTION)
H0 = H(C0, IDENTIFIER)
print("initial chaining key", C0.hex())
print("initial hash        ", H0.hex())
print("kdf1(C0, 'abc')     ", KDF(1, C0, b"abc")[0].hex())
k2 = KDF(2, C0, b"")
print("kdf2(C0, '')        ", k2[0].hex(), k2[1].hex())
k3 = KDF(3, bytes(32), bytes([0x42] * 32))
print("kdf3(0, 42*32)      ", " ".join(x.hex() for x in k3))

# Initiation.
Spub_i, Spub_r = pub(S_i), pub(S_r)
C, Hh = C0, H(H0, Spub_r)
Epub_i = pub(E_i)
C = KDF(1, C, Epub_i)[0]
Hh = H(Hh, Epub_i)
C, k = KDF(2, C, DH(E_i, Spub_r))
enc_static = AEAD(k, 0, Spub_i, Hh)
Hh = H(Hh, enc_static)
C, k = KDF(2, C, DH(S_i, Spub_r))
enc_ts = AEAD(k, 0, TS, Hh)
Hh = H(Hh, enc_ts)
body = bytes([1, 0, 0, 0]) + struct.pack("<I", I_i) + Epub_i + enc_static + enc_ts
print("mac1 key of Bob     ", H(b"mac1----", Spub_r).hex())
mac1 = MAC(H(b"mac1----", Spub_r), body)
init = body + mac1 + bytes(16)
print("initiation          ", init.hex())

# Response.
Epub_r = pub(E_r)
C = KDF(1, C, Epub_r)[0]
Hh = H(Hh, Epub_r)
C = KDF(1, C, DH(E_r, Epub_i))[0]
C = KDF(1, C, DH(E_r, Spub_i))[0]
C, t, k = KDF(3, C, PSK)
Hh = H(Hh, t)
enc_nothing = AEAD(k, 0, b"", Hh)
body = bytes([2, 0, 0, 0]) + struct.pack("<II", I_r, I_i) + Epub_r + enc_nothing
mac1 = MAC(H(b"mac1----", Spub_i), body)
resp = body + mac1 + bytes(16)
print("response            ", resp.hex())
T_send_i, T_recv_i = KDF(2, C, b"")
print("initiator send key  ", T_send_i.hex())
print("initiator recv key  ", T_recv_i.hex())
# First data message from the initiator: a 1-byte payload padded to 16, counter 0.
data = bytes([4, 0, 0, 0]) + struct.pack("<IQ", I_r, 0) + AEAD(T_send_i, 0, b"\x45" + bytes(15), b"")
print("first data message  ", data.hex())

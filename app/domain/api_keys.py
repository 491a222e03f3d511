"""The form of an API key's secret, checked before any database is asked.

`plk_` + 30 random base62 characters + 6 base62 characters of the CRC32 of what precedes them,
as GitHub's tokens: a secret scanner recognises a leaked key by its prefix and checksum with no
false positives to speak of, and the API refuses a mistyped or truncated key without a lookup.
The database stores only an HMAC-SHA256 of the whole secret under a server-side pepper, and the
secret's first characters (`display_prefix`) to tell keys apart in lists.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import zlib

PREFIX = "plk_"
BODY_LENGTH = 30
CHECKSUM_LENGTH = 6
LENGTH = len(PREFIX) + BODY_LENGTH + CHECKSUM_LENGTH
# Shown in lists: the prefix and the first 8 random characters (the other 22 keep 130 bits).
DISPLAY_LENGTH = len(PREFIX) + 8
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_DIGITS = frozenset(ALPHABET)


def _base62(value: int, width: int) -> str:
    digits = []
    for _ in range(width):
        value, digit = divmod(value, 62)
        digits.append(ALPHABET[digit])
    return "".join(reversed(digits))


def checksum(text: str) -> str:
    return _base62(zlib.crc32(text.encode("ascii")), CHECKSUM_LENGTH)


def new_secret() -> str:
    body = PREFIX + "".join(secrets.choice(ALPHABET) for _ in range(BODY_LENGTH))
    return body + checksum(body)


def looks_like_key(token: str) -> bool:
    """Meant as an API key (a JWT never starts so): it is judged as one, not as a token."""
    return token.startswith(PREFIX)


def well_formed(secret: str) -> bool:
    """Length, alphabet and checksum hold: worth a lookup."""
    if len(secret) != LENGTH or not secret.startswith(PREFIX):
        return False
    rest = secret[len(PREFIX) :]
    if not _DIGITS.issuperset(rest):
        return False
    return hmac.compare_digest(checksum(secret[:-CHECKSUM_LENGTH]), secret[-CHECKSUM_LENGTH:])


def display_prefix(secret: str) -> str:
    return secret[:DISPLAY_LENGTH]


def secret_hash(secret: str, pepper: bytes) -> bytes:
    """What the database stores and looks keys up by: without the pepper, a copy of the table
    gives an attacker nothing to try guesses against."""
    return hmac.new(pepper, secret.encode("ascii"), hashlib.sha256).digest()

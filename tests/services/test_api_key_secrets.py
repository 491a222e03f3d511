"""The form of API key secrets (app/domain/api_keys.py): recognisable, checksummed, hashed."""

from __future__ import annotations

import re

from app.domain import api_keys

# What a secret scanner would match: the prefix, 30 random base62 characters and 6 of checksum.
PATTERN = re.compile(r"\bplk_[0-9A-Za-z]{36}\b")


def test_a_new_secret_is_recognisable_and_well_formed() -> None:
    secrets = {api_keys.new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for secret in secrets:
        assert PATTERN.fullmatch(secret)
        assert api_keys.well_formed(secret)
        assert api_keys.display_prefix(secret) == secret[:12]


def test_every_single_character_mistake_is_caught_by_the_checksum() -> None:
    secret = api_keys.new_secret()
    for position in range(len(api_keys.PREFIX), len(secret)):
        for replacement in "0aZ":
            if secret[position] == replacement:
                continue
            wrong = secret[:position] + replacement + secret[position + 1 :]
            assert not api_keys.well_formed(wrong), (position, replacement)
    # Two neighbours swapped, a character lost or added, another prefix, a JWT.
    swapped = secret[:10] + secret[11] + secret[10] + secret[12:]
    for wrong in (swapped, secret[:-1], secret + "0", "ghp_" + secret[4:], "eyJhbGciOi.x.y"):
        if wrong != secret:
            assert not api_keys.well_formed(wrong)
    assert not api_keys.looks_like_key("eyJhbGciOiJIUzI1NiJ9.e30.x")


def test_the_stored_hash_depends_on_the_pepper() -> None:
    secret = api_keys.new_secret()
    one = api_keys.secret_hash(secret, b"k" * 32)
    assert one == api_keys.secret_hash(secret, b"k" * 32)
    assert one != api_keys.secret_hash(secret, b"j" * 32)
    assert secret.encode() not in one and len(one) == 32

"""rehab_core.security.passwords: Argon2id hashes, tolerant checks, rehash on new parameters."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher

from rehab_core.security import hash_password, needs_rehash, verify_password

PASSWORD = "correct horse battery staple"


def test_hash_is_argon2id_salted_and_verifies():
    first, second = hash_password(PASSWORD), hash_password(PASSWORD)
    assert first.startswith("$argon2id$v=19$m=65536,t=3,p=4$")
    assert first != second  # a fresh salt each time
    assert PASSWORD not in first
    assert verify_password(first, PASSWORD)
    assert not verify_password(first, PASSWORD.upper())
    assert not needs_rehash(first)


@pytest.mark.parametrize(
    "stored",
    [
        None,
        "",
        "not a hash",
        "$argon2id$v=19$m=65536,t=3,p=4$garbled",
        "$2b$12$abcdefghijklmnopqrstuuJ2v7G1z1rQ8o5l5C5h3Q3x1c3m3Zq",  # bcrypt
        "$argon2id$v=19$m=0,t=0,p=0$c2FsdHNhbHQ$aGFzaA",
    ],
)
def test_a_missing_or_garbled_hash_is_a_mismatch_not_a_crash(stored):
    assert verify_password(stored, PASSWORD) is False


def test_non_string_password_is_a_mismatch():
    assert verify_password(hash_password(PASSWORD), None) is False
    with pytest.raises(TypeError, match="password must be a str, got bytes"):
        hash_password(b"bytes")


def test_weaker_parameters_need_a_rehash():
    weak = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)
    assert verify_password(weak, PASSWORD)  # still accepted...
    assert needs_rehash(weak)  # ...and flagged for replacement
    assert needs_rehash("garbage")

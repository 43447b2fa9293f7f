"""Password hashing: Argon2id (RFC 9106) through ``argon2-cffi``.

Only the hash is stored: ``$argon2id$v=19$m=...,t=...,p=...$salt$digest`` carries
its own salt and parameters, so :func:`verify_password` needs nothing else,
and :func:`needs_rehash` tells when a stored hash was made with weaker
parameters than today's (the account's hash is then replaced at its next
successful sign-in).
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["hash_password", "verify_password", "needs_rehash"]

# argon2-cffi's defaults are RFC 9106's low-memory profile: Argon2id, t=3, m=64 MiB, p=4
# (about 0.25 s per hash on one core of the development machine).
_HASHER = PasswordHasher()


def hash_password(password: str) -> str:
    """The Argon2id hash of ``password`` with a fresh random salt.

    Parameters
    ----------
    password : str
        The clear-text password (any length; the policy is checked by
        :func:`rehab_core.security.accounts.check_password_policy`).

    Returns
    -------
    str
        The encoded hash (``$argon2id$...``), safe to store.
    """
    if not isinstance(password, str):
        raise TypeError(f"password must be a str, got {type(password).__name__}.")
    return _HASHER.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Whether ``password`` matches ``password_hash``.

    A missing, garbled or non-Argon2 hash is a mismatch (False), never an
    exception: a damaged row must not let anyone in, nor crash the sign-in.
    """
    if not password_hash or not isinstance(password, str):
        return False
    try:
        return _HASHER.verify(password_hash, password)
    except (VerificationError, InvalidHashError, ValueError):
        # VerifyMismatchError is a VerificationError; a hash of another algorithm
        # or with broken parameters is an InvalidHashError or a ValueError
        return False


def needs_rehash(password_hash: str) -> bool:
    """Whether ``password_hash`` was made with other parameters than :func:`hash_password` uses."""
    try:
        return _HASHER.check_needs_rehash(password_hash)
    except (InvalidHashError, ValueError):
        return True

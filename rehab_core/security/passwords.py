"""Password hashing: Argon2id (RFC 9106) through ``argon2-cffi``.

Only the hash is stored: ``$argon2id$v=19$m=...,t=...,p=...$salt$digest`` carries
its own salt and parameters, so :func:`verify_password` needs nothing else,
and :func:`needs_rehash` tells when a stored hash was made with weaker
parameters than today's (the account's hash is then replaced at its next
successful sign-in).

:func:`guessability_score` rates how guessable a new password is with
zxcvbn (Dropbox's estimator, MIT): it matches the password against ranked
lists of common passwords (the 30,000 most frequent of a 10-million-password
leak corpus), English words, names and TV/Wikipedia terms, and against
patterns (keyboard runs, sequences, repeats, dates, l33t substitutions, the
user's own name) and estimates the guesses an attacker needs. Chosen over a
plain top-10,000 list because with a 12-character minimum almost nothing on
such a list is still allowed, while "Password1234", "passwordpassword" and
"qwertyuiopasdf" are: the patterns are what people fall back on.
"""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["hash_password", "verify_password", "needs_rehash", "guessability_score"]

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


def guessability_score(password: str, user_inputs: tuple[str, ...] = ()) -> int:
    """zxcvbn's score of ``password``: 0 (guessed at once) to 4 (very unguessable).

    Score 3 means over 10^8 guesses are expected ("safely unguessable"
    against online attacks and slowed offline ones; the account policy asks
    for at least that). ``user_inputs`` (the user name and its parts) count
    as known words. Only the first 72 characters are rated (zxcvbn's limit;
    its matching is quadratic in the length).
    """
    from zxcvbn import zxcvbn

    return int(zxcvbn(password[:72], user_inputs=list(user_inputs))["score"])

"""Local accounts: creation, sign-in, roles, deactivation.

Rules
-----
* A user name is 3 to 64 characters: lower-case letters, digits and
  ``. _ - @`` (an e-mail address is a valid one, which is how accounts of the
  hospital's identity provider are matched); it is stored lower-cased and
  compared case-insensitively.
* A password is at least :data:`MIN_PASSWORD_LENGTH` characters, is not the
  user name and is not guessable (zxcvbn score at least
  :data:`MIN_PASSWORD_SCORE`: no common password, word with digits, keyboard
  run or repeat); only its Argon2id hash is stored. There is no default password:
  the first administrator is created by whoever installs the dashboard: on
  the server with ``rehab users add``, or in the sign-in page's first-run
  form with the one-time setup token the server printed in its log.
* An account with no password signs in only through the identity provider,
  matched on the provider's issuer and subject; the first sign-in binds a
  verified e-mail address to the account of that name.
* An administrator may reset a password to a temporary one, which its user
  must replace at the next sign-in.
* The last active administrator cannot be deactivated nor lose the role,
  however many such changes arrive at once (:func:`_lock_admins`).
* Every change is written to the audit trail with the actor's name.

Every refusal is a :class:`ValueError` with one plain sentence; a failed
sign-in is an :class:`AuthError` that never says which half was wrong, and
repeated failures are slowed down per account and per client
(:mod:`rehab_core.security.throttle`; :class:`ThrottledError`).
"""

from __future__ import annotations

import datetime as _dt
import functools
import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from rehab_core._validation import check_option
from rehab_core.security.audit import record_event
from rehab_core.security.passwords import (
    guessability_score,
    hash_password,
    needs_rehash,
    verify_password,
)
from rehab_core.security.setup_token import setup_token_matches, spend_setup_token
from rehab_core.security.throttle import SIGN_IN_THROTTLE, SignInThrottle
from rehab_core.storage.db import ROLES, PasswordReset, User, UserIdentity, utc_now

if TYPE_CHECKING:
    from rehab_core.storage import Store

__all__ = [
    "ROLES",
    "MIN_PASSWORD_LENGTH",
    "AuthError",
    "ThrottledError",
    "UserRecord",
    "role_allows",
    "normalise_username",
    "check_password_policy",
    "create_user",
    "create_first_admin",
    "authenticate",
    "authenticate_external",
    "get_user",
    "list_users",
    "set_user_active",
    "set_user_role",
    "set_password",
    "reset_password",
    "change_own_password",
    "needs_first_admin",
]

MIN_PASSWORD_LENGTH = 12
"""Shortest accepted password, in characters."""
MAX_PASSWORD_LENGTH = 1024
"""Longest accepted password (hashing a megabyte is a denial of service, not a password)."""
MIN_PASSWORD_SCORE = 3
"""Lowest zxcvbn score accepted (:func:`~rehab_core.security.passwords.guessability_score`)."""

_ADMIN_EXISTS = "An administrator account already exists; sign in instead."
_ADMINS_LOCK = 72_616_275_646_975  # any constant, distinct from the audit guards' lock
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._@-]{2,63}")
_WRONG = "Wrong user name or password."
_THROTTLE_KEY_MAX = 128  # characters of a typed user name kept as a throttle key


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user name is unknown, so both answers take as long."""
    return hash_password("no account has this password, it only burns time")


class AuthError(Exception):
    """A sign-in was refused; the message is one sentence safe to show."""


class ThrottledError(AuthError):
    """A sign-in was refused unchecked: too many recent failures for the account or client."""


@dataclass(frozen=True)
class UserRecord:
    """An account as the app sees it (never the password hash)."""

    id: int
    username: str
    role: str
    display_name: str | None
    active: bool
    has_password: bool
    created_at: _dt.datetime
    last_sign_in_at: _dt.datetime | None
    must_change_password: bool = False
    """An administrator reset the password: a new one must be chosen before anything else."""


def role_allows(role: str, needed_role: str) -> bool:
    """Whether ``role`` may do what ``needed_role`` may (clinician < researcher < admin)."""
    check_option("needed_role", needed_role, ROLES)
    return role in ROLES and ROLES.index(role) >= ROLES.index(needed_role)


def normalise_username(username: str) -> str:
    """``username`` stripped and lower-cased, or ValueError when it breaks the rules."""
    name = username.strip().lower() if isinstance(username, str) else ""
    if not _USERNAME.fullmatch(name):
        shown = username if isinstance(username, str) else type(username).__name__
        raise ValueError(
            f"The user name {shown!r} is not allowed; use 3 to 64 letters, digits, "
            "'.', '_', '-' or '@', starting with a letter or digit."
        )
    return name


def check_password_policy(username: str, password: str) -> None:
    """Refuse a password that is too short, too long, the user name or guessable (ValueError)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"The password must be at least {MIN_PASSWORD_LENGTH} characters long.")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValueError(f"The password must be at most {MAX_PASSWORD_LENGTH} characters long.")
    if password.strip().lower() == username.strip().lower():
        raise ValueError("The password must not be the user name.")
    name_parts = tuple(p for p in re.split(r"[._@-]", username.strip().lower()) if p)
    if guessability_score(password, (username.strip().lower(), *name_parts)) < MIN_PASSWORD_SCORE:
        raise ValueError(
            "The password is too easy to guess (a common password, a word with digits, a "
            "keyboard run or a repeat); use three or four unrelated words instead."
        )


def _record(row: User, session: Session | None = None) -> UserRecord:
    """The record of ``row``; with a ``session``, whether a password reset is pending too."""
    must_change = session is not None and session.get(PasswordReset, row.id) is not None
    return UserRecord(
        id=row.id,
        username=row.username,
        role=row.role,
        display_name=row.display_name,
        active=row.active,
        has_password=bool(row.password_hash),
        created_at=row.created_at,
        last_sign_in_at=row.last_sign_in_at,
        must_change_password=must_change,
    )


def _n_active_admins(session: Session) -> int:
    query = select(func.count()).select_from(User).where(User.role == "admin", User.active)
    return session.scalar(query) or 0


def _lock_admins(session: Session) -> None:
    """Serialise every change to the set of active administrators; call first in a transaction.

    A check that counts the administrators and then writes is a race: two
    admins deactivating each other at the same moment both count two and
    both write, leaving none (and the first-run form back). Each such
    transaction takes this lock before it counts, so the second counts after
    the first committed. PostgreSQL: a transaction-scoped advisory lock.
    SQLite: an empty UPDATE, which takes the database's write lock (waiting
    for the busy timeout) before anything is read, like ``BEGIN IMMEDIATE``.
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _ADMINS_LOCK})
    else:
        session.execute(text("UPDATE users SET id = id WHERE 0 = 1"))


def _row(session: Session, username: str) -> User:
    row = session.scalar(select(User).where(User.username == normalise_username(username)))
    if row is None:
        raise ValueError(f"There is no user named {username.strip().lower()!r}.")
    return row


def _display_name(display_name: str | None) -> str | None:
    if display_name is None or not display_name.strip():
        return None
    name = display_name.strip()
    if len(name) > 128:
        raise ValueError("The display name must be at most 128 characters long.")
    return name


def _insert_user(
    store: Store,
    username: str,
    password: str | None,
    role: str,
    display_name: str | None,
    *,
    first_admin: bool,
) -> UserRecord:
    name = normalise_username(username)
    check_option("role", role, ROLES)
    if password is not None:
        check_password_policy(name, password)
    row = User(
        username=name,
        role=role,
        password_hash=None if password is None else hash_password(password),
        display_name=_display_name(display_name),
        active=True,
    )
    try:
        with Session(store.engine, expire_on_commit=False) as session, session.begin():
            if first_admin:
                # two first-run forms submitted at once: the second waits, then sees the first
                _lock_admins(session)
                if _n_active_admins(session):
                    raise ValueError(_ADMIN_EXISTS)
            session.add(row)
    except IntegrityError:
        raise ValueError(f"A user named {name!r} already exists.") from None
    return _record(row)


def create_user(
    store: Store,
    username: str,
    password: str | None,
    role: str,
    *,
    display_name: str | None = None,
    actor: str,
) -> UserRecord:
    """Create an active account and record ``user_create`` by ``actor``.

    Parameters
    ----------
    store : Store
    username : str
        See the module's rules; stored lower-cased.
    password : str | None
        The initial password (policy checked); None for an account that signs
        in only through the identity provider (``st.login``).
    role : str
        One of :data:`ROLES`.
    display_name : str | None
        How the app greets the user (up to 128 characters).
    actor : str
        Who creates it (their user name, or ``cli:<login>``).

    Raises
    ------
    ValueError
        A rule is broken or the user name is taken (one sentence).
    """
    user = _insert_user(store, username, password, role, display_name, first_admin=False)
    record_event(
        store,
        actor,
        "user_create",
        target=f"user {user.username}",
        details={"role": role, "password": password is not None},
    )
    return user


def create_first_admin(
    store: Store,
    username: str,
    password: str,
    *,
    setup_token: str,
    display_name: str | None = None,
) -> UserRecord:
    """Create the first administrator (first run) with the server's one-time setup token.

    Refused once an active admin exists, and without the valid token that
    the server printed in its log (:mod:`rehab_core.security.setup_token`),
    which this spends. Records ``first_admin`` with the new administrator as
    the actor. (On the server itself, ``rehab users add --role admin`` needs
    no token.)

    Raises
    ------
    ValueError
        Wrong or expired token, an administrator exists, or a rule is broken.
    """
    if not setup_token_matches(setup_token):
        raise ValueError(
            "The setup token is wrong or has expired; copy the one the server printed in its "
            "log (a new one is printed there when it expires)."
        )
    if password is None:
        raise ValueError("The administrator account needs a password.")
    user = _insert_user(store, username, password, "admin", display_name, first_admin=True)
    spend_setup_token()
    record_event(store, user.username, "first_admin", target=f"user {user.username}")
    return user


def needs_first_admin(store: Store) -> bool:
    """Whether no active administrator exists yet (the app then offers the first-run form)."""
    with Session(store.engine) as session:
        return _n_active_admins(session) == 0


def get_user(store: Store, username: str) -> UserRecord | None:
    """The account ``username`` (case-insensitive), or None."""
    try:
        name = normalise_username(username)
    except ValueError:
        return None
    with Session(store.engine) as session:
        row = session.scalar(select(User).where(User.username == name))
        return None if row is None else _record(row, session)


def list_users(store: Store) -> list[UserRecord]:
    """Every account, by user name."""
    with Session(store.engine) as session:
        rows = session.scalars(select(User).order_by(User.username))
        return [_record(r, session) for r in rows]


def _signed_in(store: Store, row_id: int, new_hash: str | None) -> UserRecord:
    with Session(store.engine, expire_on_commit=False) as session, session.begin():
        row = session.get(User, row_id)
        row.last_sign_in_at = utc_now()
        if new_hash is not None:
            row.password_hash = new_hash
        return _record(row, session)


def authenticate(
    store: Store,
    username: str,
    password: str,
    *,
    client: str | None = None,
    throttle: SignInThrottle | None = None,
) -> UserRecord:
    """Check a user name and password; record ``sign_in`` or ``sign_in_failed``.

    A hash made with older Argon2 parameters is replaced by one with today's.
    Failures are counted per account and per ``client``
    (:mod:`rehab_core.security.throttle`); while either must wait, an attempt
    is refused at once, without hashing anything or writing an audit row.

    Parameters
    ----------
    client : str | None
        The client's address, for the per-client count (None: not counted).
    throttle : SignInThrottle | None
        Default: the server's :data:`~rehab_core.security.throttle.SIGN_IN_THROTTLE`.

    Raises
    ------
    ThrottledError
        Too many recent failures for this account or client (says how long to wait).
    AuthError
        "Wrong user name or password." for an unknown or inactive account, a
        password-less (identity-provider) account or a wrong password alike.
    """
    throttle = SIGN_IN_THROTTLE if throttle is None else throttle
    typed = username.strip().lower() if isinstance(username, str) else ""
    key = typed[:_THROTTLE_KEY_MAX]
    wait = throttle.wait_s(key, client)
    if wait > 0:
        raise ThrottledError(f"Too many failed sign-ins; wait {math.ceil(wait)} s, then try again.")
    try:
        name = normalise_username(typed)
    except ValueError:
        name = None
    with Session(store.engine) as session:
        row = None if name is None else session.scalar(select(User).where(User.username == name))
        stored = row.password_hash if row is not None else None
        row_id, active = (row.id, row.active) if row is not None else (None, False)
    ok = verify_password(stored or _dummy_hash(), password) and stored is not None and active
    if not ok:
        throttle.failed(key, client)
        record_event(store, typed or "(empty)", "sign_in_failed")
        raise AuthError(_WRONG)
    throttle.succeeded(key)
    user = _signed_in(store, row_id, hash_password(password) if needs_rehash(stored) else None)
    record_event(store, user.username, "sign_in", details={"method": "password"})
    return user


def set_user_active(store: Store, username: str, active: bool, *, actor: str) -> UserRecord:
    """Deactivate (or reactivate) an account; records ``user_update``.

    Raises
    ------
    ValueError
        Unknown user, or the last active administrator would be deactivated.
    """
    with Session(store.engine, expire_on_commit=False) as session, session.begin():
        if not active:
            _lock_admins(session)
        row = _row(session, username)
        if not active and row.active and row.role == "admin" and _n_active_admins(session) <= 1:
            raise ValueError(
                f"{row.username} is the last active administrator; make another one first."
            )
        row.active = bool(active)
    record_event(
        store, actor, "user_update", target=f"user {row.username}", details={"active": bool(active)}
    )
    return _record(row)


def set_user_role(store: Store, username: str, role: str, *, actor: str) -> UserRecord:
    """Give an account another role; records ``user_update`` with the old and new role.

    Raises
    ------
    ValueError
        Unknown user or role, or the last active administrator would lose the role.
    """
    check_option("role", role, ROLES)
    with Session(store.engine, expire_on_commit=False) as session, session.begin():
        if role != "admin":
            _lock_admins(session)
        row = _row(session, username)
        old = row.role
        if old == "admin" and role != "admin" and row.active and _n_active_admins(session) <= 1:
            raise ValueError(
                f"{row.username} is the last active administrator; make another one first."
            )
        row.role = role
    record_event(
        store,
        actor,
        "user_update",
        target=f"user {row.username}",
        details={"role": role, "previous_role": old},
    )
    return _record(row)


def set_password(store: Store, username: str, password: str, *, actor: str) -> UserRecord:
    """Replace an account's password (policy checked); records ``user_update``.

    A pending reset (:func:`reset_password`) is cleared: this is the password
    the user chose.
    """
    name = normalise_username(username)
    check_password_policy(name, password)
    new_hash = hash_password(password)
    with Session(store.engine, expire_on_commit=False) as session, session.begin():
        row = _row(session, name)
        row.password_hash = new_hash
        session.execute(delete(PasswordReset).where(PasswordReset.user_id == row.id))
        record = _record(row, session)
    record_event(store, actor, "user_update", target=f"user {name}", details={"password": True})
    return record


def reset_password(store: Store, username: str, temporary: str, *, actor: str) -> UserRecord:
    """Give an account a temporary password that must be changed at its next sign-in.

    For an administrator helping a user who forgot theirs: the temporary
    password (policy checked) is told to the user by another channel; until
    they choose a new one (:func:`change_own_password`) the app shows them
    nothing else. Records ``user_update`` with ``password_reset``.

    Raises
    ------
    ValueError
        Unknown user, or the temporary password breaks the policy.
    """
    name = normalise_username(username)
    check_password_policy(name, temporary)
    new_hash = hash_password(temporary)
    with Session(store.engine, expire_on_commit=False) as session, session.begin():
        row = _row(session, name)
        row.password_hash = new_hash
        session.execute(delete(PasswordReset).where(PasswordReset.user_id == row.id))
        session.add(PasswordReset(user_id=row.id, set_by=actor[:64], set_at=utc_now()))
        session.flush()
        record = _record(row, session)
    record_event(
        store, actor, "user_update", target=f"user {name}", details={"password_reset": True}
    )
    return record


def change_own_password(store: Store, username: str, current: str, new: str) -> UserRecord:
    """The signed-in user replaces their password (after a reset, or by choice).

    Raises
    ------
    AuthError
        ``current`` is not the account's password.
    ValueError
        ``new`` breaks the policy or equals ``current``.
    """
    name = normalise_username(username)
    with Session(store.engine) as session:
        row = session.scalar(select(User).where(User.username == name))
        stored = row.password_hash if row is not None else None
    if not verify_password(stored, current):
        raise AuthError("The current password is wrong.")
    if new == current:
        raise ValueError("The new password must differ from the current one.")
    return set_password(store, name, new, actor=name)


# --- the hospital's identity provider (OpenID Connect) ----------------------------------------
def _claim_true(value: object) -> bool:
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def authenticate_external(
    store: Store,
    claims: Mapping[str, object],
    *,
    provider: str = "oidc",
    issuers: Collection[str] | None = None,
) -> UserRecord:
    """Map an identity-provider sign-in (``st.user``'s claims) to an active local account.

    Matched on the provider's issuer and subject (``iss`` + ``sub``), which
    stay with the person when an e-mail address is renamed or handed on. The
    first sign-in binds them to the local account whose user name is the
    e-mail address, and only if the provider says that address is verified
    (``email_verified``); an account is bound to one identity only, so one
    already bound is never taken over by another subject or issuer. With
    ``issuers``, tokens of any other issuer (another tenant of a multi-tenant
    provider) are refused. The role comes from the local account; records
    ``sign_in`` (or ``sign_in_failed``) with ``method`` = ``provider``.

    Raises
    ------
    AuthError
        No issuer or subject, an issuer not in ``issuers``, an unverified
        e-mail at first binding, or no active local account for this identity.
    """
    issuer = str(claims.get("iss") or "").strip()
    subject = str(claims.get("sub") or "").strip()
    email = str(claims.get("email") or "").strip().lower()
    shown = email or "(no e-mail)"
    details = {"method": provider}

    def refuse(sentence: str) -> AuthError:
        record_event(store, shown[:64], "sign_in_failed", details=details)
        return AuthError(sentence)

    if not issuer or not subject or len(issuer) > 255 or len(subject) > 255:
        raise refuse("The identity provider sent no usable account identifier; ask IT.")
    if issuers is not None and issuer not in issuers:
        raise refuse(
            "This identity provider (or tenant) is not the hospital's; sign in with the "
            "hospital account."
        )
    with Session(store.engine, expire_on_commit=False) as session, session.begin():
        bound = session.scalar(
            select(UserIdentity).where(
                UserIdentity.issuer == issuer, UserIdentity.subject == subject
            )
        )
        if bound is not None:
            row = session.get(User, bound.user_id)
        else:
            if not _claim_true(claims.get("email_verified")):
                raise refuse(
                    f"The identity provider has not verified {shown}; "
                    "ask IT to verify it, then sign in again."
                )
            try:
                name = normalise_username(email)
            except ValueError:
                name = None
            row = (
                None if name is None else session.scalar(select(User).where(User.username == name))
            )
            if row is not None and row.active:
                taken = session.scalar(select(UserIdentity).where(UserIdentity.user_id == row.id))
                if taken is not None:
                    raise refuse(
                        f"{shown} is linked to another account of the identity provider; "
                        "ask an administrator."
                    )
                session.add(UserIdentity(user_id=row.id, issuer=issuer, subject=subject))
        if row is None or not row.active:
            raise refuse(
                f"{shown} has no active account on this dashboard; ask an administrator to add one."
            )
        row.last_sign_in_at = utc_now()
        session.flush()
        user = _record(row, session)
    record_event(store, user.username, "sign_in", details=details)
    return user

"""Who may use the dashboard, and what they did: accounts, passwords, the audit trail.

* :mod:`~rehab_core.security.passwords`: Argon2id hashing.
* :mod:`~rehab_core.security.accounts`: local accounts, roles
  (clinician < researcher < admin), sign-in, the first administrator.
* :mod:`~rehab_core.security.throttle`: sign-in back-off per account and client.
* :mod:`~rehab_core.security.setup_token`: the one-time token (printed in the
  server's log) that the first-run form asks for.
* :mod:`~rehab_core.security.audit`: the append-only audit trail and its CSV export.

Every function takes the :class:`~rehab_core.storage.Store` first. Nothing
here imports Streamlit; the pages' glue is ``pages/_shared.py``.
"""

from __future__ import annotations

from rehab_core.security.accounts import (
    MIN_PASSWORD_LENGTH,
    ROLES,
    AuthError,
    ThrottledError,
    UserRecord,
    authenticate,
    authenticate_external,
    change_own_password,
    check_password_policy,
    create_first_admin,
    create_user,
    get_user,
    list_users,
    needs_first_admin,
    normalise_username,
    reset_password,
    role_allows,
    set_password,
    set_user_active,
    set_user_role,
)
from rehab_core.security.audit import (
    ACTIONS,
    AuditRecord,
    audit_csv,
    audit_events,
    record_event,
)
from rehab_core.security.passwords import hash_password, needs_rehash, verify_password
from rehab_core.security.setup_token import (
    SETUP_TOKEN_MINUTES,
    issue_setup_token,
    setup_token_matches,
)

__all__ = [
    "ROLES",
    "ACTIONS",
    "MIN_PASSWORD_LENGTH",
    "AuthError",
    "ThrottledError",
    "UserRecord",
    "AuditRecord",
    "hash_password",
    "verify_password",
    "needs_rehash",
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
    "SETUP_TOKEN_MINUTES",
    "issue_setup_token",
    "setup_token_matches",
    "record_event",
    "audit_events",
    "audit_csv",
]

"""UI glue shared by the pages: the store, the selected patient, the loaded model.

The selected patient lives in ``st.session_state["patient_id"]``, a plain key
set with :func:`select_patient` (never a widget key: Streamlit clears a
widget's state when the user changes page, a plain key survives), and in the
URL as ``?patient=ID`` (:func:`sync_patient_param`, called by ``app.py``), so
a reload, a bookmark or a link sent to a colleague opens the same patient.

The store and models are ``st.cache_resource`` objects shared by every
session; the store is keyed by the environment variables that locate it
(``REHAB_DATABASE_URL``, ``REHAB_DATA_DIR``, ``REHAB_MAX_UPLOAD_MB``), so
changing them (as the tests do) opens another store rather than reusing one.

The signed-in account lives in ``st.session_state["user"]`` (a
:class:`~rehab_core.security.UserRecord`) with the time of the last activity in
``st.session_state["last_activity"]``; :func:`session_user` (called by
``app.py`` on every run) ends a session idle for longer than
``REHAB_SESSION_MINUTES`` (default 30) and one whose account was deactivated.
:func:`audit` writes an event of the audit trail as the signed-in user.

A sign-in also survives a reload and a new tab: :func:`sign_in` opens a
browser session in the database (:mod:`rehab_core.security.sessions`) and
:func:`deliver_session_cookie` has the browser fetch its HttpOnly cookie from
the server's endpoint (``pages/_session_cookie.py``); a new Streamlit session
finds the cookie in ``st.context.cookies`` and :func:`session_user` resumes
it. Every run checks the browser session in the database, so a sign-out in
another tab, a deactivation, a password change and the idle limit end it.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import streamlit as st

from rehab_core.io import ModelChannels
from rehab_core.models import DEFAULT_MODEL_ID
from rehab_core.security import UserRecord, get_user, record_event, role_allows
from rehab_core.security.sessions import (
    HANDOFF_SECONDS,
    SESSION_COOKIE,
    SessionCheck,
    check_session,
    end_session,
    load_session_secret,
    resume_session,
    start_session,
)
from rehab_core.storage import PatientRecord, RecordNotFound, Store, open_store

if TYPE_CHECKING:
    from rehab_core.prediction import FusionPredictor
    from rehab_core.storage import UploadRecord

__all__ = [
    "PATIENT_KEY",
    "PATIENTS_PAGE",
    "get_store",
    "current_patient",
    "select_patient",
    "sync_patient_param",
    "require_patient",
    "load_predictor",
    "available_models",
    "page_exists",
    "link_if_page",
    "upload_summary",
    "plain",
    "USER_KEY",
    "current_user",
    "sign_in",
    "sign_out",
    "session_user",
    "deliver_session_cookie",
    "fragment_session",
    "SessionEndedError",
    "session_minutes",
    "client_address",
    "require_role",
    "not_open_page",
    "audit",
    "audited",
    "show_notice",
    "oidc_configured",
    "oidc_issuers",
]

PATIENT_KEY = "patient_id"
"""Session-state key holding the selected patient's id (an int) or nothing."""
PATIENTS_PAGE = "pages/patients.py"
USER_KEY = "user"
"""Session-state key holding the signed-in :class:`~rehab_core.security.UserRecord`."""
ACTIVITY_KEY = "last_activity"
"""Session-state key holding the ``time.time()`` of the signed-in user's last run."""
_NOTICE_KEY = "auth_notice"  # one sentence for the sign-in page (expired, deactivated)
_VIEWED_KEY = "audit_viewed_patients"  # patient ids whose view_patient is recorded
_CLOCK_KEY = "session_clock"  # the _SessionClock deferred downloads check
WEB_SESSION_KEY = "web_session_id"
"""Session-state key holding the id of the browser session (``web_sessions`` row), if any."""
_HANDOFF_KEY = "web_session_handoff"  # (token, issued at) until the browser has its cookie
_COOKIE_SET_KEY = "web_session_cookie_set"  # the check found the cookie handed over
_CLEAR_COOKIE_KEY = "web_session_clear_cookie"  # ask the browser to drop its cookie once
_COOKIE_TRIED_KEY = "web_session_cookie_tried"  # the cookie value this session already checked
PATIENT_PARAM = "patient"
"""URL query parameter holding the selected patient's id."""
DEFAULT_SESSION_MINUTES = 30.0
_APP_ROOT = Path(__file__).resolve().parent.parent


def _close_store(store: Store) -> None:
    store.close()


@st.cache_resource(show_spinner=False, on_release=_close_store)
def _store_for(url: str | None, data_dir: str | None, max_upload_mb: str | None) -> Store:
    # the arguments are the environment's values: they key the cache; open_store reads them
    return open_store(url=url or None, data_dir=data_dir or None)


def get_store() -> Store:
    """The store for the current ``REHAB_*`` environment, opened once per process."""
    env = os.environ.get
    return _store_for(env("REHAB_DATABASE_URL"), env("REHAB_DATA_DIR"), env("REHAB_MAX_UPLOAD_MB"))


def select_patient(patient_id: int | None) -> None:
    """Make ``patient_id`` the selected patient on every page and in the URL (None: no patient)."""
    if patient_id is None:
        st.session_state.pop(PATIENT_KEY, None)
        st.query_params.pop(PATIENT_PARAM, None)
    else:
        st.session_state[PATIENT_KEY] = int(patient_id)
        st.query_params[PATIENT_PARAM] = str(int(patient_id))


def sync_patient_param() -> None:
    """Agree the URL's ``?patient=ID`` and the selected patient; ``app.py`` calls it once signed in.

    The URL wins when it names a patient that exists (a reload, a bookmark, a
    link): it becomes the selected one. An id that is not a stored patient is
    removed from the URL. Without one in the URL (a page change drops the
    query), the selected patient is written back to it.
    """
    raw = st.query_params.get(PATIENT_PARAM)
    if raw is not None:
        try:
            patient_id = int(raw)
            get_store().get_patient(patient_id)
        except (ValueError, RecordNotFound):
            st.query_params.pop(PATIENT_PARAM, None)
        else:
            st.session_state[PATIENT_KEY] = patient_id
            return
    selected = st.session_state.get(PATIENT_KEY)
    if selected is not None:
        st.query_params[PATIENT_PARAM] = str(selected)


def current_patient() -> PatientRecord | None:
    """The selected patient, or None (also when the stored id no longer exists)."""
    patient_id = st.session_state.get(PATIENT_KEY)
    if patient_id is None:
        return None
    try:
        patient = get_store().get_patient(patient_id)
    except RecordNotFound:
        select_patient(None)
        return None
    viewed: set[int] = st.session_state.setdefault(_VIEWED_KEY, set())
    if patient.id not in viewed:  # once per patient and session, not on every rerun
        viewed.add(patient.id)
        audit("view_patient", patient_id=patient.id)
    return patient


def require_patient() -> PatientRecord:
    """The selected patient; without one, say where to pick one and stop the page."""
    patient = current_patient()
    if patient is None:
        st.info("Pick or create a patient on the Patients page first.")
        link_if_page(PATIENTS_PAGE, "Patients", icon=":material/group:")
        st.stop()
    return patient


@st.cache_resource(show_spinner="Loading the model...")
def _predictor(path: str) -> FusionPredictor:
    from rehab_core.prediction import FusionPredictor

    return FusionPredictor.load(path)


def load_predictor(model_id: str = DEFAULT_MODEL_ID) -> FusionPredictor:
    """Model ``model_id``, loaded (hash-checked) once per bundle.

    The version a researcher promoted on the Retrain page if there is one,
    else the shipped bundle under the weights folder
    (:func:`rehab_core.jobs.model_path`).

    Raises
    ------
    rehab_core.storage.WeightsError
        The bundle is missing or does not match its manifest.
    """
    from rehab_core.jobs import model_path

    return _predictor(str(model_path(get_store(), model_id)))


def available_models() -> list[str]:
    """Model ids with a shipped bundle or a promoted version, sorted."""
    from rehab_core.jobs import list_versions
    from rehab_core.prediction import default_weights_dir
    from rehab_core.storage import find_bundles

    shipped = {path.name for path in find_bundles(default_weights_dir())}
    promoted = {v.model_id for v in list_versions(get_store()) if v.is_default}
    return sorted(shipped | promoted)


def page_exists(page: str) -> bool:
    """Whether a page file exists (``app.py`` routes exactly the page files that exist)."""
    return (_APP_ROOT / page).is_file()


def link_if_page(page: str, label: str, *, icon: str | None = None) -> None:
    """``st.page_link`` to ``page`` if that page exists; nothing otherwise."""
    if page_exists(page):
        st.page_link(page, label=label, icon=icon)


_MARKDOWN_ACTIVE = re.compile(r"([\\`*\[\]<>$|~@])")
_LINK_STARTS = re.compile(r"(?i)(:)(?=//)|(?<=www)(\.)")


def plain(text: object) -> str:
    """``text`` (a pseudonym, file name, user name, refusal sentence...) safe in Markdown.

    Streamlit renders ``st.markdown``, ``st.success``/``info``/``warning``/
    ``error``, captions and expander labels as Markdown: a pseudonym such as
    ``[Open the report](https://evil.example)`` or ``![](https://track.example/x.png)``
    would become a link or a tracking image. Every character that starts a
    link, an image, HTML, code, a table, maths or an auto-link (``://``,
    ``www.``, ``@``) is backslash-escaped and line breaks become spaces (no
    headings or lists); the text shows exactly as typed. Every page draws user
    text through this.
    """
    flat = " ".join(str(text).split())
    escaped = _MARKDOWN_ACTIVE.sub(r"\\\1", flat)
    escaped = _LINK_STARTS.sub(lambda m: "\\" + (m.group(1) or m.group(2)), escaped)
    if escaped[:1] in ("#", "-", "+", "=", ">"):
        escaped = "\\" + escaped
    return escaped


def upload_summary(upload: UploadRecord) -> str:
    """One line on what a stored recording holds, from its QC summary."""
    qc: dict[str, Any] = upload.qc
    if upload.kind == "signals":
        by_type = ", ".join(f"{n} {kind.upper()}" for kind, n in qc["n_channels_by_type"].items())
        text = (
            f"{qc['n_channels']} channels ({by_type}), {qc['sfreq']:g} Hz, {qc['duration_s']:.1f} s"
        )
        missing = qc.get("missing_paper_channels") or []
        reason = ModelChannels.from_missing(missing).reason()
        text += (
            f"; viewable on the Signals page, but {reason[0].lower()}{reason[1:].rstrip('.')}"
            if missing
            else "; all 22 model channels present"
        )
    else:
        x, y, z, _ = qc["shape"]
        vx = " x ".join(f"{v:g}" for v in qc["voxel_size_mm"])
        text = (
            f"{x} x {y} x {z} voxels of {vx} mm, {qc['n_volumes']} volumes, "
            f"TR {qc['tr_s']:g} s ({qc['duration_s']:.0f} s)"
        )
    n_warn = len(qc.get("warnings") or [])
    if n_warn:
        text += f"; {n_warn} reader warning{'s' if n_warn > 1 else ''}"
    return text


# --- who is signed in ---------------------------------------------------------------------------
def current_user() -> UserRecord | None:
    """The signed-in account, or None."""
    return st.session_state.get(USER_KEY)


def session_minutes() -> float:
    """Idle minutes before a session ends: ``$REHAB_SESSION_MINUTES``, else 30."""
    env = os.environ.get("REHAB_SESSION_MINUTES")
    try:
        minutes = float(env) if env else DEFAULT_SESSION_MINUTES
    except ValueError:
        minutes = DEFAULT_SESSION_MINUTES
    return minutes if minutes > 0 else DEFAULT_SESSION_MINUTES


def client_address() -> str:
    """The client's address, for sign-in throttling (``"localhost"`` for a local browser).

    Behind a reverse proxy every connection comes from the proxy; with
    ``REHAB_TRUST_FORWARDED_FOR=1`` the address the proxy appended last to
    ``X-Forwarded-For`` is used instead. Set it only when the proxy is the only
    way in: a client could otherwise write any address there.
    """
    if os.environ.get("REHAB_TRUST_FORWARDED_FOR") == "1":
        forwarded = st.context.headers.get("X-Forwarded-For") or ""
        last = forwarded.split(",")[-1].strip()
        if last:
            return last
    return st.context.ip_address or "localhost"


def oidc_issuers() -> set[str] | None:
    """The identity provider issuers accepted (``$REHAB_OIDC_ISSUERS``, comma-separated), or None.

    Set it to the hospital tenant's issuer URL: a multi-tenant provider signs
    tokens for other organisations too.
    """
    issuers = {i.strip() for i in os.environ.get("REHAB_OIDC_ISSUERS", "").split(",")}
    return {i for i in issuers if i} or None


def oidc_configured() -> bool:
    """Whether ``.streamlit/secrets.toml`` has an ``[auth]`` section (``st.login`` is offered)."""
    return st.secrets.load_if_toml_exists() and "auth" in st.secrets


@dataclass
class _SessionClock:
    """The signed-in user and their last activity, shared by reference with deferred downloads.

    A deferred download runs later, on Streamlit's own thread, without the
    session: it holds this object and checks it when the file is asked for.
    """

    username: str
    last_activity: float
    ended: bool = False


def _clock(user: UserRecord, last_activity: float) -> _SessionClock:
    clock = st.session_state.get(_CLOCK_KEY)
    if not isinstance(clock, _SessionClock) or clock.username != user.username or clock.ended:
        clock = _SessionClock(user.username, last_activity)
        st.session_state[_CLOCK_KEY] = clock
    clock.last_activity = last_activity
    return clock


def _secret() -> bytes:
    return load_session_secret(get_store().data_dir)


def sign_in(user: UserRecord) -> None:
    """Make ``user`` the session's account (after :func:`rehab_core.security.authenticate`).

    A user who may use the app (no pending password change) also gets a
    browser session, whose cookie :func:`deliver_session_cookie` hands over.
    """
    now = time.time()
    st.session_state[USER_KEY] = user
    st.session_state[ACTIVITY_KEY] = now
    st.session_state.pop(_VIEWED_KEY, None)
    _clock(user, now)
    if not user.must_change_password:
        session_id, handoff = start_session(get_store(), user, now=now)
        st.session_state[WEB_SESSION_KEY] = session_id
        st.session_state[_HANDOFF_KEY] = (handoff, now)
        st.session_state.pop(_COOKIE_SET_KEY, None)


SIGNED_OUT = "You have been signed out."


def sign_out(reason: str | None = None, *, notice: str | None = SIGNED_OUT) -> None:
    """End the session's sign-in (and the identity provider's cookie); record ``sign_out``.

    The browser session is ended in the database (every tab of this browser
    is signed out at its next click) and the browser asked to drop its
    cookie. Every session-state key is cleared. ``notice`` is shown once on
    the sign-in page.
    """
    user = current_user()
    if user is not None:
        details = {"reason": reason} if reason else None
        record_event(get_store(), user.username, "sign_out", details=details)
    session_id = st.session_state.get(WEB_SESSION_KEY)
    if session_id is not None:
        end_session(get_store(), session_id, reason or "sign_out")
    clock = st.session_state.get(_CLOCK_KEY)
    if isinstance(clock, _SessionClock):
        clock.ended = True  # deferred downloads still holding it refuse from now on
    # every key, widget values and cached results included: the next person at this browser
    # must find nothing of this session (issue 14, finding 13)
    st.session_state.clear()
    st.query_params.pop(PATIENT_PARAM, None)
    if notice:
        st.session_state[_NOTICE_KEY] = notice
    # the cookie this session was opened with names an ended session now: not checked again
    st.session_state[_COOKIE_TRIED_KEY] = _browser_cookie()
    if session_id is not None:
        st.session_state[_CLEAR_COOKIE_KEY] = True
    if oidc_configured() and st.user.get("is_logged_in"):
        st.logout()  # else the provider's cookie would sign the browser straight back in


def show_notice() -> None:
    """Show (once) why the last session ended."""
    notice = st.session_state.pop(_NOTICE_KEY, None)
    if notice:
        st.info(notice, icon=":material/info:")


def _browser_cookie() -> str | None:
    """The session cookie this Streamlit session's browser sent when it connected."""
    try:
        return st.context.cookies.get(SESSION_COOKIE)
    except Exception:  # noqa: BLE001 - no client context (bare script, AppTest): no cookie
        return None


def _ended_notice(check: SessionCheck) -> str:
    """One sentence on why a browser session is over, for the sign-in page."""
    if check.status == "expired" and check.reason == "idle":
        return (
            f"Your session expired after {session_minutes():g} minutes without activity; "
            "sign in again."
        )
    if check.status == "expired":
        return "Your session expired (sessions last one working day at most); sign in again."
    return {
        "deactivated": "Your account is no longer active; ask an administrator.",
        "password": "Your password was changed; sign in with the new one.",
    }.get(check.reason or "", SIGNED_OUT)


def _resume_from_cookie() -> UserRecord | None:
    """Sign this new Streamlit session in from the browser's cookie (a reload, a new tab)."""
    cookie = _browser_cookie()
    if not cookie or st.session_state.get(_COOKIE_TRIED_KEY) == cookie:
        return None
    st.session_state[_COOKIE_TRIED_KEY] = cookie  # one check per cookie, not one per rerun
    try:
        check = resume_session(get_store(), _secret(), cookie, max_idle_s=session_minutes() * 60)
    except ValueError:  # the key file is unusable: the sign-in page still works
        return None
    if not check.ok or check.user is None:
        if check.status != "invalid":
            st.session_state[_NOTICE_KEY] = _ended_notice(check)
        return None
    now = time.time()
    st.session_state[USER_KEY] = check.user
    st.session_state[ACTIVITY_KEY] = now
    st.session_state[WEB_SESSION_KEY] = check.session_id
    st.session_state[_COOKIE_SET_KEY] = True
    _clock(check.user, now)
    return check.user


def session_user(*, touch: bool = True) -> UserRecord | None:
    """The signed-in account, refreshed from the database, or None after expiry or deactivation.

    Called by ``app.py`` before routing, and by :func:`fragment_session`. A
    session without an account is signed in from the browser's cookie when it
    names a live browser session. A browser session is checked in the
    database (idle time across all its tabs, sign-out elsewhere, deactivation,
    password change); a session without one (``streamlit run app.py``, the
    page tests) by its own idle clock and the account's state. An ended
    session is signed out with a one-sentence notice; otherwise the role is
    re-read (a change by the admin applies at once) and, with ``touch``, the
    activity clock restarts (a timer's poll is not activity: ``touch=False``).
    """
    user = current_user()
    if user is None:
        return _resume_from_cookie()
    now = time.time()
    minutes = session_minutes()
    session_id = st.session_state.get(WEB_SESSION_KEY)
    if session_id is not None:
        check = check_session(get_store(), session_id, max_idle_s=minutes * 60, touch=touch)
        if not check.ok or check.user is None:
            sign_out(
                "expired" if check.status == "expired" else check.reason,
                notice=_ended_notice(check),
            )
            return None
        fresh = check.user
        if check.has_cookie:
            st.session_state[_COOKIE_SET_KEY] = True
    else:
        if now - st.session_state.get(ACTIVITY_KEY, now) > minutes * 60:
            sign_out(
                "expired",
                notice=f"Your session expired after {minutes:g} minutes without activity; "
                "sign in again.",
            )
            return None
        fresh = get_user(get_store(), user.username)
        if fresh is None or not fresh.active:
            sign_out(
                "deactivated", notice="Your account is no longer active; ask an administrator."
            )
            return None
    st.session_state[USER_KEY] = fresh
    if touch:
        st.session_state[ACTIVITY_KEY] = now
    _clock(fresh, st.session_state.get(ACTIVITY_KEY, now))
    return fresh


def _run_script(body: str) -> None:
    # our own few lines, no user text in them; st.html runs them in the page itself
    st.html(f"<script>{body}</script>", unsafe_allow_javascript=True)


def deliver_session_cookie() -> None:
    """Have the browser fetch (or drop) its HttpOnly session cookie; ``app.py`` calls it each run.

    After a sign-in, until the server has handed the cookie over (at most
    :data:`~rehab_core.security.sessions.HANDOFF_SECONDS`), the page posts the
    one-time token to the cookie endpoint; after a sign-out it asks the
    endpoint to delete the cookie. Nothing happens when the endpoints are not
    served (``streamlit run app.py``).
    """
    from pages._session_cookie import (
        END_HEADER,
        HANDOFF_HEADER,
        end_url,
        handoff_url,
        routes_served,
    )

    if st.session_state.pop(_CLEAR_COOKIE_KEY, False) and routes_served():
        headers = json.dumps({END_HEADER: "end"})
        _run_script(
            f"fetch({json.dumps(end_url())}, {{method: 'POST', headers: {headers}, "
            "credentials: 'same-origin', cache: 'no-store'});"
        )
    pending = st.session_state.get(_HANDOFF_KEY)
    if pending is None:
        return
    handoff, issued = pending
    if st.session_state.get(_COOKIE_SET_KEY) or time.time() - issued > HANDOFF_SECONDS:
        st.session_state.pop(_HANDOFF_KEY, None)
        return
    if routes_served():
        headers = json.dumps({HANDOFF_HEADER: handoff})
        _run_script(
            f"fetch({json.dumps(handoff_url())}, {{method: 'POST', headers: {headers}, "
            "credentials: 'same-origin', cache: 'no-store'});"
        )


def fragment_session(role: str, *, activity: bool = True) -> UserRecord:
    """The session check for a fragment, which reruns without ``app.py``; call it first.

    ``st.fragment`` functions (a slider moved, a ``run_every`` timer) run
    alone, so neither idle expiry, nor deactivation, nor a role change would
    reach them. This runs :func:`session_user` and the role check: when the
    session ended it reruns the whole app, which shows the sign-in page with
    the reason; when the role no longer allows ``role`` the fragment stops
    with one sentence (the next full run routes the new role's pages).

    Parameters
    ----------
    role : str
        The role the fragment's page needs.
    activity : bool
        Whether this run is the user's doing; False for ``run_every`` polls,
        which must not keep an idle session alive.
    """
    had_user = current_user() is not None
    user = session_user(touch=activity)
    if user is None:  # just signed out: the whole app reruns and shows the sign-in page
        if had_user:
            st.rerun(scope="app")
        st.stop()
    if not role_allows(user.role, role):  # the next full run routes the new role's pages
        if activity:  # not on every poll
            _audit_refusal(user, role, "fragment")
        st.error(f"This part is for the {role} role and above; you are signed in as {user.role}.")
        st.stop()
    return user


def require_role(role: str) -> UserRecord:
    """The signed-in account if its role allows ``role``; else one sentence and ``st.stop()``.

    Every page calls it first: ``app.py`` routes no page a role may not see,
    and this refuses one reached some other way.
    """
    user = current_user()
    if user is None:
        st.warning("Sign in first.")
        st.stop()
    if not role_allows(user.role, role):
        _audit_refusal(user, role, "page")
        st.error(f"This page is for the {role} role and above; you are signed in as {user.role}.")
        st.stop()
    return user


def _audit_refusal(user: UserRecord, role: str, where: str) -> None:
    """Record ``access_refused``: ``user`` reached a page (or fragment) that needs ``role``."""
    record_event(
        get_store(),
        user.username,
        "access_refused",
        target=where,
        details={"needs": role, "role": user.role},
    )


_ROLE_PEOPLE = {
    "clinician": "every signed-in user",
    "researcher": "researchers and administrators",
    "admin": "administrators",
}


def not_open_page(title: str, role: str) -> Callable[[], None]:
    """A page that says, in place of page ``title``, that it needs ``role``.

    ``app.py`` routes it (hidden from the menu) at the address of every page
    the user's role does not reach, so a typed or bookmarked address says why
    instead of silently showing the Overview.
    """

    def page() -> None:
        user = current_user()
        if user is not None:  # role refusals go into the audit trail (issue 14)
            _audit_refusal(user, role, f"page {title}")
        st.title(title)
        st.warning(
            f"The {title} page is open to {_ROLE_PEOPLE[role]} only, and you are signed in as "
            f"a {user.role if user else 'visitor'}. Ask an administrator if you need it.",
            icon=":material/lock:",
        )
        st.page_link("pages/home.py", label="Go to the overview", icon=":material/home:")

    page.__name__ = "not_open_" + re.sub(r"\W", "_", title.lower())
    return page


def audit(action: str, **kwargs: Any) -> None:
    """Record ``action`` in the audit trail as the signed-in user (``anonymous`` if none).

    ``kwargs`` are those of :func:`rehab_core.security.record_event`
    (``patient_id``, ``target``, ``details``); never put names in them.
    """
    user = current_user()
    record_event(get_store(), user.username if user else "anonymous", action, **kwargs)


class SessionEndedError(PermissionError):
    """A deferred download was asked for after its session ended or lost the role."""


def audited(
    data: Callable[[], bytes], action: str, *, role: str = "clinician", **kwargs: Any
) -> Callable[[], bytes]:
    """``data`` for a deferred ``st.download_button`` that records ``action`` when it runs.

    Streamlit calls a callable ``data`` when the user clicks the button, on
    its own thread without the session and without ``app.py``: the store and
    the session's clock are bound here. When the file is asked for, the
    session must still be signed in, not idle for longer than
    :func:`session_minutes`, its account active and its role still allowing
    ``role``; otherwise :class:`SessionEndedError` is raised (Streamlit
    answers "Failed to generate file for download") and nothing is produced
    or recorded. Then the event is recorded as the file is handed over.
    """
    store = get_store()
    user = current_user()
    username = user.username if user else "anonymous"
    clock = st.session_state.get(_CLOCK_KEY) if user is not None else None
    if user is not None and not isinstance(clock, _SessionClock):
        clock = _clock(user, st.session_state.get(ACTIVITY_KEY, time.time()))
    minutes = session_minutes()

    def produce() -> bytes:
        fresh = None if clock is None else get_user(store, clock.username)
        if (
            clock is None
            or clock.ended
            or time.time() - clock.last_activity > minutes * 60
            or fresh is None
            or not fresh.active
            or not role_allows(fresh.role, role)
        ):
            raise SessionEndedError("The session ended or lost the role; sign in again.")
        content = data()
        record_event(store, username, action, **kwargs)
        return content

    return produce

"""Roles and the Admin page through the real app (AppTest).

A clinician is routed neither Evaluation, Retrain nor Admin, and each of
those pages refuses a clinician who reaches it anyway (run from its file);
a researcher gets Evaluation; the administrator manages accounts and reads
and exports the audit trail, which has no edit or delete control.
"""

from __future__ import annotations

import csv
import io
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from rehab_core.security import (
    audit_events,
    authenticate,
    create_user,
    get_user,
    record_event,
)

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
ADMIN = "pages/admin.py"
PASSWORD = "a long enough pass"
NOT_ROUTED = "Could not find (a navigation )?page"  # unrouted, or no such file yet


def app_as(signed_in, role: str) -> AppTest:
    at = signed_in(AppTest.from_file(APP, default_timeout=60), role).run()
    assert not at.exception, at.exception
    return at


def open_admin(signed_in) -> AppTest:
    at = app_as(signed_in, "admin")
    at.switch_page(ADMIN).run()
    assert not at.exception, at.exception
    return at


def button(at: AppTest, label: str):
    (found,) = [b for b in at.button if b.label == label]
    return found


def widget(elements, label: str):
    (found,) = [w for w in elements if w.label == label]
    return found


@pytest.mark.parametrize(
    ("role", "routed", "hidden"),
    [
        ("clinician", ["patients", "signals", "prediction"], ["evaluation", "retrain", "admin"]),
        ("researcher", ["patients", "evaluation"], ["admin"]),
        ("admin", ["patients", "evaluation", "admin"], []),
    ],
)
def test_each_role_is_routed_only_its_pages(app_store, signed_in, role, routed, hidden):
    at = app_as(signed_in, role)
    for page in hidden:
        with pytest.raises(ValueError, match=NOT_ROUTED):
            at.switch_page(f"pages/{page}.py")
    for page in routed:
        at.switch_page(f"pages/{page}.py").run()
        assert not at.exception and not at.error, page


@pytest.mark.parametrize(
    ("page", "needed"),
    [
        ("pages/admin.py", "admin"),
        ("pages/evaluation.py", "researcher"),
        ("pages/retrain.py", "researcher"),
    ],
)
def test_a_restricted_page_refuses_a_clinician_who_reaches_it(app_store, signed_in, page, needed):
    """Defence in depth: run from its own file (not through the router), the page still refuses."""
    if not (ROOT / page).is_file():
        pytest.skip(f"{page} is not written yet; app.py routes it once it exists")
    at = signed_in(AppTest.from_file(str(ROOT / page), default_timeout=60), "clinician").run()
    assert not at.exception
    assert [e.value for e in at.error] == [
        f"This page is for the {needed} role and above; you are signed in as clinician."
    ]
    assert not at.title and not at.dataframe  # it stopped before drawing anything


def test_a_page_without_a_signed_in_user_asks_to_sign_in(app_store):
    at = AppTest.from_file(str(ROOT / "pages/patients.py"), default_timeout=60).run()
    assert [w.value for w in at.warning] == ["Sign in first."] and not at.title


def test_admin_creates_an_account_changes_its_role_and_deactivates_it(app_store, signed_in):
    at = open_admin(signed_in)
    assert at.title[0].value == "Admin"
    assert at.dataframe[0].value["User name"].tolist() == ["test-admin"]
    widget(at.text_input, "User name").input("Nurse.Kay")
    widget(at.selectbox, "Role").select("clinician")
    widget(at.text_input, "Password").input(PASSWORD)
    widget(at.text_input, "Repeat password").input(PASSWORD + "!")
    button(at, "Create user").click().run()
    assert [e.value for e in at.error] == [
        "The two passwords differ; type the same password twice."
    ]
    widget(at.text_input, "User name").input("Nurse.Kay")
    widget(at.text_input, "Password").input(PASSWORD)
    widget(at.text_input, "Repeat password").input(PASSWORD)
    button(at, "Create user").click().run()
    assert not at.exception
    assert [s.value for s in at.success] == ["Created the clinician account nurse.kay."]
    assert get_user(app_store, "nurse.kay").role == "clinician"
    assert at.dataframe[0].value["User name"].tolist() == ["nurse.kay", "test-admin"]

    widget(at.selectbox, "Account").select("nurse.kay").run()
    widget(at.selectbox, "New role").select("researcher").run()
    button(at, "Change role").click().run()
    assert [s.value for s in at.success] == ["nurse.kay is now researcher."]
    widget(at.selectbox, "Account").select("nurse.kay").run()
    button(at, "Deactivate").click().run()
    assert [s.value for s in at.success] == ["nurse.kay is inactive now."]
    user = get_user(app_store, "nurse.kay")
    assert (user.role, user.active) == ("researcher", False)

    widget(at.selectbox, "Account").select("test-admin").run()
    button(at, "Deactivate").click().run()
    assert [e.value for e in at.error] == [
        "test-admin is the last active administrator; make another one first."
    ]
    updates = [(e.username, e.details) for e in audit_events(app_store, action="user_update")]
    assert updates == [
        ("test-admin", {"active": False}),
        ("test-admin", {"role": "researcher", "previous_role": "clinician"}),
    ]


def test_audit_log_is_filtered_and_exported_never_edited(app_store, signed_in, deferred_downloads):
    record_event(app_store, "dr.who", "view_patient", patient_id=3)
    record_event(app_store, "dr.who", "predict", patient_id=3, target="prediction 1")
    record_event(app_store, "dr.no", "view_patient", patient_id=4)
    at = open_admin(signed_in)
    table = at.dataframe[-1].value
    # newest first; the newest is the signed_in fixture creating the administrator
    assert table["Action"].tolist() == ["user_create", "view_patient", "predict", "view_patient"]
    assert table["User"].tolist() == ["pytest", "dr.no", "dr.who", "dr.who"]
    assert table["Target"].tolist()[2] == "prediction 1"
    widget(at.selectbox, "Action").select("view_patient").run()
    assert at.dataframe[-1].value["Patient id"].tolist() == [4, 3]
    widget(at.number_input, "Patient id").set_value(3).run()
    assert at.dataframe[-1].value["User"].tolist() == ["dr.who"]

    # no control can change the trail: the page's only buttons are the account ones
    assert {b.label for b in at.button} <= {"Create user", "Change role", "Deactivate"}
    (download,) = at.get("download_button")
    assert download.proto.label == "Download the audit log (CSV)"
    assert audit_events(app_store, action="audit_export") == []
    content = deferred_downloads[download.proto.deferred_file_id]()  # the click
    rows = list(csv.DictReader(io.StringIO(content.decode("utf-8"))))
    assert [(r["username"], r["action"], r["patient_id"]) for r in rows] == [
        ("dr.who", "view_patient", "3")
    ]
    (export,) = audit_events(app_store, action="audit_export")
    assert export.username == "test-admin"
    assert export.details == {"action": "view_patient", "patient_id": 3}


def test_a_researcher_sees_evaluation_not_admin(app_store, signed_in):
    create_user(app_store, "other.admin", PASSWORD, "admin", actor="cli")
    at = app_as(signed_in, "researcher")
    # checked on the routes of the run through app.py: AppTest runs later pages from their
    # own file and then knows every file under pages/ (a real server runs app.py each time)
    with pytest.raises(ValueError, match=NOT_ROUTED):
        at.switch_page(ADMIN)
    at.switch_page("pages/evaluation.py").run()
    assert not at.exception and at.title[0].value == "Evaluation"


def test_admin_resets_a_password_and_the_user_must_choose_a_new_one(app_store, signed_in):
    """Issue 14, finding 13: there was no password reset in the UI."""
    create_user(app_store, "lena", PASSWORD, "clinician", actor="pytest")
    at = open_admin(signed_in)
    widget(at.selectbox, "Account").set_value("lena").run()
    widget(at.text_input, "Temporary password").input("temporary tulip window")
    widget(at.text_input, "Repeat temporary password").input("temporary tulip window")
    button(at, "Set temporary password").click().run()
    assert not at.exception
    assert get_user(app_store, "lena").must_change_password
    (event,) = [e for e in audit_events(app_store, action="user_update")]
    assert (event.username, event.details) == ("test-admin", {"password_reset": True})

    # lena signs in with the temporary password: nothing but the change form is routed
    at = AppTest.from_file(APP, default_timeout=60)
    at.session_state["user"] = authenticate(app_store, "lena", "temporary tulip window")
    at.session_state["last_activity"] = time.time()
    at.run()
    assert not at.exception
    with pytest.raises(ValueError, match=NOT_ROUTED):
        at.switch_page("pages/patients.py")
    widget(at.text_input, "Temporary password").input("temporary tulip window")
    widget(at.text_input, "New password").input("my own quiet harbour")
    widget(at.text_input, "Repeat new password").input("my own quiet harbour")
    button(at, "Set my password").click().run()
    assert not at.exception
    assert get_user(app_store, "lena").must_change_password is False
    assert authenticate(app_store, "lena", "my own quiet harbour").username == "lena"

"""The ``rehab`` command line: ``rehab users`` creates accounts headless (no default password)."""

from __future__ import annotations

import io

import pytest

from rehab_core.cli import main
from rehab_core.security import audit_events, authenticate, list_users
from rehab_core.storage import open_store


def users(data_dir, *args: str, stdin: str | None = None, monkeypatch=None) -> int:
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    return main(["users", *args, "--data-dir", str(data_dir)])


def test_users_add_reads_the_password_from_stdin_and_users_list_shows_it(
    tmp_path, monkeypatch, capsys
):
    data = tmp_path / "data"
    args = ("add", "--username", "Admin", "--role", "admin", "--password-stdin")
    assert users(data, *args, stdin="a long admin password\n", monkeypatch=monkeypatch) == 0
    assert capsys.readouterr().out == "created admin admin\n"
    args = ("add", "--username", "gina@hospital.org", "--role", "researcher", "--no-password")
    assert users(data, *args) == 0
    assert users(data, "list") == 0
    assert capsys.readouterr().out.splitlines()[-2:] == [
        "admin\tadmin\tactive\t",
        "gina@hospital.org\tresearcher\tactive\t",
    ]
    store = open_store(data_dir=data)
    try:
        assert authenticate(store, "admin", "a long admin password").role == "admin"
        creators = {e.target: e.username for e in audit_events(store, action="user_create")}
        assert set(creators) == {"user admin", "user gina@hospital.org"}
        assert all(name.startswith("cli:") for name in creators.values())
    finally:
        store.close()


def test_users_add_prompts_twice_and_refuses_different_passwords(tmp_path, monkeypatch, capsys):
    answers = iter(["first long password", "second long password"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    args = ("add", "--username", "carol", "--role", "clinician")
    assert users(tmp_path / "data", *args) == 2
    assert capsys.readouterr().err == "rehab users: The two passwords differ.\n"


@pytest.mark.parametrize(
    ("password", "message"),
    [
        ("short\n", "rehab users: The password must be at least 12 characters long.\n"),
        ("carol.smith1\n", "rehab users: The password must not be the user name.\n"),
    ],
)
def test_users_add_refusal_is_one_sentence(tmp_path, monkeypatch, capsys, password, message):
    args = ("add", "--username", "carol.smith1", "--role", "clinician", "--password-stdin")
    assert users(tmp_path / "data", *args, stdin=password, monkeypatch=monkeypatch) == 2
    assert capsys.readouterr().err == message
    store = open_store(data_dir=tmp_path / "data")
    try:
        assert list_users(store) == []
    finally:
        store.close()

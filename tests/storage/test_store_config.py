"""Where the store finds its data and how large an upload may be: arguments, then environment."""

from __future__ import annotations

import pytest

from rehab_core.storage import open_store


@pytest.fixture(autouse=True)
def _no_env(monkeypatch):
    for var in ("REHAB_DATA_DIR", "REHAB_DATABASE_URL", "REHAB_MAX_UPLOAD_MB"):
        monkeypatch.delenv(var, raising=False)


def test_max_upload_ceiling_is_what_the_size_column_holds(tmp_path, monkeypatch):
    monkeypatch.delenv("REHAB_DATABASE_URL", raising=False)
    monkeypatch.setenv("REHAB_MAX_UPLOAD_MB", "3000")
    with pytest.raises(ValueError, match=r"max_upload_mb=3000\.0 is above 2147 MB, the largest"):
        open_store(data_dir=tmp_path)
    assert open_store(data_dir=tmp_path, max_upload_mb=2147).max_upload_mb == 2147.0
    assert 2147 * 10**6 <= 2**31 - 1  # the largest accepted file fits uploads.size on PostgreSQL


def test_max_upload_precedence(tmp_path, monkeypatch):
    monkeypatch.delenv("REHAB_DATABASE_URL", raising=False)
    monkeypatch.delenv("REHAB_MAX_UPLOAD_MB", raising=False)
    assert open_store(data_dir=tmp_path).max_upload_mb == 500.0
    monkeypatch.setenv("REHAB_MAX_UPLOAD_MB", "20")
    assert open_store(data_dir=tmp_path).max_upload_mb == 20.0
    assert open_store(data_dir=tmp_path, max_upload_mb=3).max_upload_mb == 3.0
    monkeypatch.setenv("REHAB_MAX_UPLOAD_MB", "lots")
    with pytest.raises(ValueError, match="REHAB_MAX_UPLOAD_MB='lots' is not a number"):
        open_store(data_dir=tmp_path)


def test_data_dir_and_url_precedence(tmp_path, monkeypatch):
    env_dir, arg_dir = tmp_path / "env", tmp_path / "arg"
    monkeypatch.setenv("REHAB_DATA_DIR", str(env_dir))
    store = open_store()
    assert store.data_dir == env_dir.resolve()
    assert store.url == f"sqlite:///{env_dir.resolve() / 'rehab.db'}"
    assert (env_dir / "rehab.db").is_file()
    store.close()

    store = open_store(data_dir=arg_dir)  # the argument wins over the environment
    assert store.data_dir == arg_dir.resolve()
    assert store.url.endswith("arg/rehab.db")
    store.close()

    other_db = tmp_path / "elsewhere.db"
    monkeypatch.setenv("REHAB_DATABASE_URL", f"sqlite:///{other_db}")
    store = open_store()
    assert store.url == f"sqlite:///{other_db}" and store.data_dir == env_dir.resolve()
    store.create_patient("P-1")
    store.close()
    assert open_store(data_dir=env_dir).list_patients()[0].pseudonym == "P-1"

    explicit = tmp_path / "explicit.db"
    store = open_store(url=f"sqlite:///{explicit}")  # the argument wins again
    assert store.url == f"sqlite:///{explicit}" and store.list_patients() == []
    store.close()


def test_default_data_dir_is_under_home(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    store = open_store()
    assert store.data_dir == (tmp_path / ".local" / "share" / "rehab").resolve()
    store.close()

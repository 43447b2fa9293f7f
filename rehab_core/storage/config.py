"""Where the store keeps its data, and how large an upload may be: arguments, else the environment.

* the data folder: ``REHAB_DATA_DIR``, else ``~/.local/share/rehab``;
* the database (a SQLAlchemy URL): ``REHAB_DATABASE_URL``, else the SQLite file
  ``<data folder>/rehab.db``;
* the largest upload in MB: ``REHAB_MAX_UPLOAD_MB``, else :data:`DEFAULT_MAX_UPLOAD_MB`.

An argument always wins over the environment.
"""

from __future__ import annotations

import os
from pathlib import Path

from rehab_core._validation import check_positive

__all__ = [
    "DEFAULT_MAX_UPLOAD_MB",
    "MAX_UPLOAD_MB_CEILING",
    "default_data_dir",
    "data_dir_setting",
    "database_url_setting",
    "max_upload_mb_setting",
]

DEFAULT_MAX_UPLOAD_MB = 500.0
"""Largest accepted upload in MB (10^6 bytes) unless ``REHAB_MAX_UPLOAD_MB`` says otherwise."""

MAX_UPLOAD_MB_CEILING = 2147.0
"""The highest upload limit allowed: ``uploads.size`` is a 32-bit integer on PostgreSQL
(at most 2,147,483,647 bytes), and an upload is held in memory while it is checked."""


def default_data_dir() -> Path:
    """``$REHAB_DATA_DIR``, else ``~/.local/share/rehab``."""
    env = os.environ.get("REHAB_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".local" / "share" / "rehab"


def data_dir_setting(data_dir: str | os.PathLike[str] | None) -> Path:
    """``data_dir``, else :func:`default_data_dir`; created if missing, made absolute."""
    folder = Path(data_dir).expanduser() if data_dir is not None else default_data_dir()
    folder.mkdir(parents=True, exist_ok=True)
    return folder.resolve()


def database_url_setting(url: str | None, data_dir: Path) -> str:
    """``url``, else ``$REHAB_DATABASE_URL``, else the SQLite file ``data_dir / "rehab.db"``."""
    if url is not None:
        return url
    return os.environ.get("REHAB_DATABASE_URL") or f"sqlite:///{data_dir / 'rehab.db'}"


def max_upload_mb_setting(value: float | None) -> float:
    """``value``, else ``$REHAB_MAX_UPLOAD_MB``, else :data:`DEFAULT_MAX_UPLOAD_MB`; in MB.

    Raises
    ------
    ValueError
        The environment's value is not a number, or the limit is not positive
        or above :data:`MAX_UPLOAD_MB_CEILING`.
    TypeError
        ``value`` is not a number.
    """
    if value is None:
        env = os.environ.get("REHAB_MAX_UPLOAD_MB")
        if not env:
            return DEFAULT_MAX_UPLOAD_MB
        try:
            value = float(env)
        except ValueError:
            raise ValueError(f"REHAB_MAX_UPLOAD_MB={env!r} is not a number of megabytes.") from None
    check_positive("max_upload_mb", value)
    if value > MAX_UPLOAD_MB_CEILING:
        raise ValueError(
            f"max_upload_mb={value!r} is above {MAX_UPLOAD_MB_CEILING:g} MB, the largest file "
            "size the database records (a 32-bit integer on PostgreSQL); choose a lower limit."
        )
    return float(value)

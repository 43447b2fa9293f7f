"""Safe extraction of uploaded zip archives (a cohort for retraining).

:func:`extract_zip` refuses, with one sentence naming the archive and the member:

* names that would land outside the destination: absolute paths, ``..``
  parts, drive letters, backslashes, empty parts, control characters;
* members that are not plain files or folders (symbolic links, devices,
  FIFOs, from the Unix mode bits in ``external_attr``), and encrypted members;
* duplicate names (also ones that differ only by case, which collide on
  case-insensitive file systems);
* more than ``max_files`` members, more than ``max_total_bytes`` unpacked, or
  a member that unpacks to more than ``max_ratio`` times its compressed size
  (zip bombs). Sizes are checked from the archive's directory first and again
  while the bytes are written, since a crafted archive can declare false sizes.

Everything is unpacked into a fresh hidden folder beside ``dest``, which is
renamed to ``dest`` only when every member was written; on any refusal or
error that folder is removed, so ``dest`` is either complete or absent.
"""

from __future__ import annotations

import os
import re
import shutil
import stat
import tempfile
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from rehab_core.io._common import short_reason
from rehab_core.io.errors import CorruptFileError, InputError

__all__ = ["UnsafeArchiveError", "extract_zip", "RATIO_CHECK_BYTES"]

RATIO_CHECK_BYTES = 1 << 20
"""Members smaller than this (1 MiB) are not held to ``max_ratio``: small files of
repeated text compress well, and ``max_total_bytes`` bounds them anyway."""

_CHUNK = 1 << 20
_DRIVE = re.compile(r"^[A-Za-z]:")


class UnsafeArchiveError(InputError):
    """A zip archive that could write outside its folder, or unpack to far more than it holds."""


def _member_name(archive: str, info: zipfile.ZipInfo) -> PurePosixPath | None:
    """The member's relative path, None for a folder entry; refused if it could escape."""
    name = info.filename
    problem = None
    if "\\" in name:
        problem = "contains a backslash"
    elif name.startswith("/"):
        problem = "is an absolute path"
    elif _DRIVE.match(name):
        problem = "starts with a drive letter"
    elif any(not ch.isprintable() for ch in name):
        problem = "contains control characters"
    else:
        parts = name.rstrip("/").split("/")
        if any(part in ("", ".", "..") for part in parts):
            problem = "has an empty, '.' or '..' part"
    if problem:
        raise UnsafeArchiveError(
            f"{archive} holds a member named {name!r}, which {problem}; "
            "expected plain relative paths such as sub-001/eeg/rec.txt."
        )
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if info.create_system == 3 and kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        what = "a symbolic link" if kind == stat.S_IFLNK else "not a plain file"
        raise UnsafeArchiveError(
            f"{archive} holds {name!r}, which is {what}; expected only files and folders."
        )
    if info.flag_bits & 0x1:
        raise UnsafeArchiveError(
            f"{archive} holds {name!r} encrypted; expected an archive without a password."
        )
    return None if info.is_dir() else PurePosixPath(name)


def _too_big(archive: str, total: int, max_total_bytes: int) -> UnsafeArchiveError:
    return UnsafeArchiveError(
        f"{archive} unpacks to more than {max_total_bytes:,} bytes ({total:,} so far); "
        "expected a smaller archive, or ask the administrator to raise the limit."
    )


def _check_ratio(archive: str, name: str, size: int, compressed: int, max_ratio: float) -> None:
    if size > RATIO_CHECK_BYTES and size > max_ratio * max(compressed, 1):
        raise UnsafeArchiveError(
            f"{archive} holds {name!r}, which unpacks to {size / max(compressed, 1):,.0f} times "
            f"its compressed size (more than {max_ratio:g}), the mark of a zip bomb; "
            "expected ordinary compressed recordings."
        )


def _plan(
    archive: str,
    infos: list[zipfile.ZipInfo],
    max_total_bytes: int,
    max_files: int,
    max_ratio: float,
) -> list[tuple[zipfile.ZipInfo, PurePosixPath | None]]:
    """Every member checked from the archive's directory (names, kinds, declared sizes)."""
    if len(infos) > max_files:
        raise UnsafeArchiveError(
            f"{archive} holds {len(infos):,} members, more than the {max_files:,} allowed; "
            "expected one folder per patient with a few files each."
        )
    seen: set[str] = set()
    total = 0
    plan = []
    for info in infos:
        rel = _member_name(archive, info)
        key = info.filename.rstrip("/").casefold()
        if key in seen:
            raise UnsafeArchiveError(
                f"{archive} holds {info.filename!r} more than once (names compared without "
                "regard to case); expected each file once."
            )
        seen.add(key)
        total += info.file_size
        if total > max_total_bytes:
            raise _too_big(archive, total, max_total_bytes)
        _check_ratio(archive, info.filename, info.file_size, info.compress_size, max_ratio)
        plan.append((info, rel))
    return plan


def _copy_member(
    archive: str,
    zf: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    target: Path,
    budget: int,
    max_ratio: float,
) -> int:
    """Stream one member to ``target``, counting real bytes; the number written."""
    written = 0
    with zf.open(info) as src, open(target, "xb") as out:
        while chunk := src.read(_CHUNK):
            written += len(chunk)
            if written > info.file_size:
                raise UnsafeArchiveError(
                    f"{archive} holds {info.filename!r}, which unpacks to more than the "
                    f"{info.file_size:,} bytes its header declares; expected an honest archive."
                )
            if written > budget:
                raise _too_big(archive, written, budget)
            _check_ratio(archive, info.filename, written, info.compress_size, max_ratio)
            out.write(chunk)
    return written


def extract_zip(
    src: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    max_total_bytes: int,
    max_files: int,
    max_ratio: float = 100.0,
) -> list[Path]:
    """Unpack a zip archive into a new folder, refusing anything unsafe.

    Parameters
    ----------
    src : path
        The zip file.
    dest : path
        The folder to create; it must not exist. Its parent must.
    max_total_bytes : int
        Largest total unpacked size, in bytes.
    max_files : int
        Most members (files and folder entries) accepted.
    max_ratio : float
        Largest unpacked/compressed size ratio of a member over 1 MiB.

    Returns
    -------
    list of Path
        The files written, under ``dest``, sorted.

    Raises
    ------
    UnsafeArchiveError
        See the module docstring; ``dest`` is not created.
    CorruptFileError
        ``src`` is not a readable zip archive (or a member's data is damaged).
    FileExistsError
        ``dest`` exists already.
    """
    src, dest = Path(src), Path(dest)
    if dest.exists():
        raise FileExistsError(f"{dest} exists already; extract_zip creates it.")
    for name, value in (("max_total_bytes", max_total_bytes), ("max_files", max_files)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}={value!r} must be a positive whole number.")
    if not max_ratio >= 1:
        raise ValueError(f"max_ratio={max_ratio!r} must be at least 1.")
    archive = src.name
    tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}-partial-", dir=dest.parent))
    try:
        with zipfile.ZipFile(src) as zf:
            plan = _plan(archive, zf.infolist(), max_total_bytes, max_files, max_ratio)
            budget = max_total_bytes
            for info, rel in plan:
                target = tmp.joinpath(*(rel.parts if rel else info.filename.rstrip("/").split("/")))
                if not target.resolve().is_relative_to(tmp.resolve()):  # belt and braces
                    raise UnsafeArchiveError(
                        f"{archive} holds {info.filename!r}, which would land outside the "
                        "folder; expected plain relative paths."
                    )
                if rel is None:
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                budget -= _copy_member(archive, zf, info, target, budget, max_ratio)
        os.rename(tmp, dest)
    except (
        zipfile.BadZipFile,
        zipfile.LargeZipFile,
        zlib.error,
        EOFError,
        NotImplementedError,
    ) as err:
        shutil.rmtree(tmp, ignore_errors=True)
        raise CorruptFileError(
            f"{archive} is not a readable zip archive ({short_reason(err, src)}); "
            "expected a .zip file made by an ordinary archiver."
        ) from err
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return sorted(p for p in dest.rglob("*") if p.is_file())

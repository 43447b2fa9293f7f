"""extract_zip: crafted archives are refused whole, a good cohort archive is unpacked."""

from __future__ import annotations

import stat
import struct
import zipfile
from pathlib import Path

import pytest

from rehab_core.io import CorruptFileError
from rehab_core.io.archive import UnsafeArchiveError, extract_zip
from rehab_core.io.cohort import read_cohort

LIMITS = dict(max_total_bytes=10_000_000, max_files=50, max_ratio=100.0)


def _zip(path: Path, members: dict[str, bytes], **kw) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, **kw) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def _nothing_left(tmp_path: Path, dest: Path) -> None:
    assert not dest.exists()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_a_cohort_archive_is_unpacked_and_readable(tmp_path):
    tsv = b"participant_id\tfma_le_3m\nsub-001\t25\nsub-002\t9\n"
    src = _zip(
        tmp_path / "cohort.zip",
        {
            "participants.tsv": tsv,
            "sub-001/eeg/sub-001_eegemg.txt": b"# rehab-eegemg 1\n" * 10,
            "sub-002/func/sub-002_bold.nii.gz": b"\x1f\x8b" + bytes(100),
        },
    )
    files = extract_zip(src, tmp_path / "cohort", **LIMITS)
    assert [p.relative_to(tmp_path / "cohort").as_posix() for p in files] == [
        "participants.tsv",
        "sub-001/eeg/sub-001_eegemg.txt",
        "sub-002/func/sub-002_bold.nii.gz",
    ]
    assert files[0].read_bytes() == tsv
    assert read_cohort(tmp_path / "cohort").ids == ["sub-001", "sub-002"]
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("../evil.txt", r"has an empty, '\.' or '\.\.' part"),
        ("sub-001/../../evil.txt", r"has an empty, '\.' or '\.\.' part"),
        ("/etc/passwd", "is an absolute path"),
        ("C:/Windows/evil.dll", "starts with a drive letter"),
        ("sub-001\\..\\evil.txt", "contains a backslash"),
        ("a//b.txt", r"has an empty, '\.' or '\.\.' part"),
        ("bell\x07.txt", "contains control characters"),
    ],
)
def test_names_that_could_escape_are_refused(tmp_path, name, problem):
    src = _zip(tmp_path / "evil.zip", {"participants.tsv": b"x", name: b"boom"})
    dest = tmp_path / "out"
    with pytest.raises(UnsafeArchiveError, match=rf"^evil\.zip holds a member named .*{problem}"):
        extract_zip(src, dest, **LIMITS)
    _nothing_left(tmp_path, dest)
    assert not (tmp_path / "evil.txt").exists()


@pytest.mark.parametrize(
    ("mode", "what"), [(stat.S_IFLNK | 0o777, "a symbolic link"), (stat.S_IFIFO | 0o644, "not a")]
)
def test_symlinks_and_special_files_are_refused(tmp_path, mode, what):
    src = tmp_path / "link.zip"
    with zipfile.ZipFile(src, "w") as zf:
        zf.writestr("participants.tsv", b"participant_id\n")
        info = zipfile.ZipInfo("sub-001/eeg/rec.txt")
        info.create_system = 3
        info.external_attr = mode << 16
        zf.writestr(info, "/etc/passwd")
    dest = tmp_path / "out"
    with pytest.raises(
        UnsafeArchiveError,
        match=rf"^link\.zip holds 'sub-001/eeg/rec\.txt', "
        rf"which is {what}",
    ):
        extract_zip(src, dest, **LIMITS)
    _nothing_left(tmp_path, dest)


def test_duplicate_names_are_refused(tmp_path):
    src = tmp_path / "dup.zip"
    with zipfile.ZipFile(src, "w") as zf:
        zf.writestr("participants.tsv", b"a")
        zf.writestr("Participants.TSV", b"b")
    with pytest.raises(UnsafeArchiveError, match=r"^dup\.zip holds 'Participants\.TSV' more than"):
        extract_zip(src, tmp_path / "out", **LIMITS)
    _nothing_left(tmp_path, tmp_path / "out")


def test_too_many_members_are_refused(tmp_path):
    src = _zip(tmp_path / "many.zip", {f"f{i}.txt": b"x" for i in range(51)})
    with pytest.raises(UnsafeArchiveError, match=r"^many\.zip holds 51 members, more than the 50"):
        extract_zip(src, tmp_path / "out", **LIMITS)
    _nothing_left(tmp_path, tmp_path / "out")


def test_total_size_over_the_limit_is_refused(tmp_path):
    src = _zip(tmp_path / "big.zip", {"a.bin": bytes(range(256)) * 40, "b.bin": b"y" * 100})
    with pytest.raises(UnsafeArchiveError, match=r"^big\.zip unpacks to more than 10,000 bytes"):
        extract_zip(src, tmp_path / "out", max_total_bytes=10_000, max_files=5)
    _nothing_left(tmp_path, tmp_path / "out")


def test_declared_bomb_is_refused_by_its_ratio(tmp_path):
    src = _zip(tmp_path / "bomb.zip", {"zeros.bin": bytes(20_000_000)})
    with pytest.raises(
        UnsafeArchiveError,
        match=r"^bomb\.zip holds 'zeros\.bin', which unpacks "
        r"to [\d,]+ times its compressed size \(more than 100\), the mark of a zip bomb",
    ):
        extract_zip(src, tmp_path / "out", max_total_bytes=10**9, max_files=5)
    _nothing_left(tmp_path, tmp_path / "out")


def _lie_about_size(path: Path, declared: int) -> None:
    """Rewrite the uncompressed size in the local header and the central directory."""
    data = bytearray(path.read_bytes())
    local = data.find(b"PK\x03\x04")
    struct.pack_into("<I", data, local + 22, declared)
    central = data.find(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, declared)
    path.write_bytes(bytes(data))


def test_bomb_with_a_lying_header_is_caught_while_streaming(tmp_path):
    src = _zip(tmp_path / "liar.zip", {"zeros.bin": bytes(20_000_000)})
    _lie_about_size(src, 1000)  # declared: 1 kB, ratio harmless; real: 20 MB
    with zipfile.ZipFile(src) as zf:
        assert zf.getinfo("zeros.bin").file_size == 1000
    with pytest.raises((UnsafeArchiveError, CorruptFileError), match=r"^liar\.zip "):
        extract_zip(src, tmp_path / "out", max_total_bytes=10**9, max_files=5)
    _nothing_left(tmp_path, tmp_path / "out")
    assert sum(p.stat().st_size for p in tmp_path.rglob("*") if p.is_file()) < 1_000_000


def test_a_member_larger_than_declared_is_refused(tmp_path, monkeypatch):
    # zipfile itself stops at the declared size (then fails the CRC); were it not to,
    # the byte count would still refuse the member
    src = _zip(tmp_path / "grow.zip", {"a.txt": b"z" * 5000})
    real_open = zipfile.ZipFile.open

    def lying_open(self, name, *args, **kw):
        handle = real_open(self, name, *args, **kw)
        handle._left = 10**9  # keep reading past the declared size
        return handle

    monkeypatch.setattr(zipfile.ZipFile, "open", lying_open)
    _lie_about_size(src, 100)
    with pytest.raises(
        UnsafeArchiveError,
        match=r"^grow\.zip holds 'a\.txt', which unpacks to more than the 100 bytes its header",
    ):
        extract_zip(src, tmp_path / "out", **LIMITS)
    _nothing_left(tmp_path, tmp_path / "out")


@pytest.mark.parametrize("content", [b"", b"not a zip at all", b"PK\x03\x04" + bytes(40)])
def test_what_is_not_a_zip_is_corrupt(tmp_path, content):
    (tmp_path / "x.zip").write_bytes(content)
    with pytest.raises(CorruptFileError, match=r"^x\.zip is not a readable zip archive \("):
        extract_zip(tmp_path / "x.zip", tmp_path / "out", **LIMITS)
    _nothing_left(tmp_path, tmp_path / "out")


def test_existing_destination_and_bad_limits(tmp_path):
    src = _zip(tmp_path / "ok.zip", {"a.txt": b"a"})
    (tmp_path / "there").mkdir()
    with pytest.raises(FileExistsError):
        extract_zip(src, tmp_path / "there", **LIMITS)
    with pytest.raises(ValueError, match=r"max_files=0 must be a positive whole number"):
        extract_zip(src, tmp_path / "out", max_total_bytes=10, max_files=0)

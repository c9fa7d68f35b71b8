"""helpers.files: the one atomic write. A failed write leaves the previous file as it was and no litter."""

import os
import stat

import pytest

from helpers.files import atomic_output, atomic_write


def test_atomic_write_writes_text_and_bytes_and_creates_the_folder(tmp_path):
    atomic_write(tmp_path / "a" / "b.txt", "héllo\n")
    atomic_write(tmp_path / "c.bin", b"\x00\xff")
    assert (tmp_path / "a" / "b.txt").read_text(encoding="utf-8") == "héllo\n"
    assert (tmp_path / "c.bin").read_bytes() == b"\x00\xff"
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["a", "b.txt", "c.bin"]


class Interrupted(BaseException):
    """Stands for Ctrl-C or a killed write."""


def test_a_failed_write_leaves_the_previous_file_intact_and_no_temporary_file(tmp_path):
    target = tmp_path / "metrics.json"
    target.write_text("old")
    with pytest.raises(Interrupted):
        with atomic_output(target) as tmp:
            tmp.write_text("half of the new")
            raise Interrupted()
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_the_temporary_file_keeps_the_suffix_and_lives_beside_the_target(tmp_path):
    with atomic_output(tmp_path / "figure.png") as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".png" and tmp.name != "figure.png"
        tmp.write_bytes(b"png")
    assert (tmp_path / "figure.png").read_bytes() == b"png"


def test_permissions_are_those_of_a_plain_write_or_of_the_file_replaced(tmp_path):
    plain = tmp_path / "plain.txt"
    plain.write_text("x")
    atomic_write(tmp_path / "new.txt", "x")
    assert stat.S_IMODE(os.stat(tmp_path / "new.txt").st_mode) == stat.S_IMODE(os.stat(plain).st_mode)
    os.chmod(plain, 0o640)
    atomic_write(plain, "y")
    assert stat.S_IMODE(os.stat(plain).st_mode) == 0o640


@pytest.mark.parametrize("stem", ["x" * 250, "€" * 83])  # 254 and 253 bytes with the suffix (€ is 3 bytes in UTF-8)
def test_a_very_long_file_name_is_written(tmp_path, stem):
    name = stem + ".png"
    atomic_write(tmp_path / name, b"ok")
    assert (tmp_path / name).read_bytes() == b"ok"

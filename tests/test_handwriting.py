"""digits-handwriting: folders of photo-like digits in one hand, the layout data=folder reads."""

import pytest

from digits import handwriting
from digits.synth import hands
from helpers import usage_error


def photos_of(folder):
    return {str(path.relative_to(folder)): path.read_bytes()
            for path in sorted(folder.rglob("*.jpg"))}


def test_writes_ten_digit_folders_of_n_photos_each(tmp_path, capsys):
    assert handwriting.main([str(tmp_path / "hand"), "--per-digit", "3", "--hand", "2"]) == 0
    folders = sorted(p.name for p in (tmp_path / "hand").iterdir())
    assert folders == [str(digit) for digit in range(10)]
    for digit in range(10):
        names = sorted(p.name for p in (tmp_path / "hand" / str(digit)).iterdir())
        assert names == [f"hand2_seed0_{k:03d}.jpg" for k in range(3)]
    assert capsys.readouterr().out.strip() == f"wrote 30 photos in hand 2 to {tmp_path / 'hand'}"


def test_the_same_seed_gives_the_same_photos_and_another_seed_others(tmp_path):
    for name, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        assert handwriting.main([str(tmp_path / name), "--per-digit", "2", "--seed", seed]) == 0
    first, again, other = (photos_of(tmp_path / name) for name in "abc")
    assert len(first) == 20 and first == again
    assert [name.replace("seed6", "seed5") for name in other] == list(first)
    assert all(other[name] != first[name.replace("seed6", "seed5")] for name in other)


@pytest.mark.parametrize("arguments, message", [
    (["--per-digit", "0"], "--per-digit must be >= 1, not 0"),
    (["--hand", "-1"], f"--hand must be 0 .. {hands.HANDS - 1}, not -1"),
    (["--hand", str(hands.HANDS)], f"--hand must be 0 .. {hands.HANDS - 1}"),
    (["--per-digit", "many"], "argument --per-digit: invalid int value: 'many'"),
])
def test_bad_arguments_are_one_line_and_exit_2_and_write_nothing(tmp_path, capsys, arguments,
                                                                  message):
    error = usage_error(handwriting.main, [str(tmp_path / "out"), *arguments], capsys)
    assert error.startswith(f"digits-handwriting: {message}")
    assert not (tmp_path / "out").exists()


def test_photos_already_there_are_kept_unless_overwrite(tmp_path, capsys):
    out = tmp_path / "hand"
    assert handwriting.main([str(out), "--per-digit", "1"]) == 0
    mine = out / "3" / "hand0_seed0_000.jpg"
    mine.write_bytes(b"edited by hand")
    assert handwriting.main([str(out), "--per-digit", "1"]) == 2
    assert capsys.readouterr().err.strip() == (f"digits-handwriting: {out} already holds photos "
                                               "of hand 0 with seed 0; add --overwrite to "
                                               "replace them")
    assert mine.read_bytes() == b"edited by hand"
    assert handwriting.main([str(out), "--per-digit", "1", "--seed", "1"]) == 0  # other names
    assert handwriting.main([str(out), "--per-digit", "1", "--overwrite"]) == 0
    assert mine.read_bytes()[:2] == b"\xff\xd8"  # a JPEG again

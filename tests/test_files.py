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


# -- every module writes through helpers.files -------------------------------------------------------------------

import ast  # noqa: E402
from pathlib import Path  # noqa: E402

from helpers.files import OutputError, check_not_input, check_output_folder, is_same_or_inside  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {   # (module, what it writes to): why a plain write is right there
    ("helpers/sample.py", "*"): "writes into a private temporary folder that then replaces data/sample whole "
                                "(os.replace of the folder), so the sample is built atomically as one",
    ("tools/sweep/store.py", "Path(out) / LOCK_FILE"): "the lock file: opened in append mode, never written",
    ("tools/sweep/runner.py", "run_dir / LOG_FILE"): "runner.log streams a child's output into a fresh run folder",
    ("tools/sweep/dask_runs.py", "notebook"): "a copy of the notebook in a Dask worker's private scratch folder",
}


def _safe_names(tree):
    """Names a write may target: those bound by ``with atomic_output(...) as NAME`` (a temporary path that only
    replaces the target when complete) and those assigned an in-memory buffer (``io.BytesIO()``/``StringIO()``)."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.With):
            for item in node.items:
                call = item.context_expr
                if isinstance(call, ast.Call) and ast.unparse(call.func).endswith("atomic_output") and \
                        isinstance(item.optional_vars, ast.Name):
                    names.add(item.optional_vars.id)
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call) and \
                ast.unparse(node.value.func) in ("io.BytesIO", "io.StringIO", "BytesIO", "StringIO"):
            names.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return names


def _writes(tree):
    """(line, call, target) of every call in ``tree`` that writes a file at a path: write_text/write_bytes,
    open(..., "w"/"a"/"x"/"+"), savefig/.save(path, ...), torch.save(obj, path), json.dump(obj, f)..."""
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f, target = node.func, None
        if isinstance(f, ast.Attribute) and f.attr in ("write_text", "write_bytes"):
            target = f.value
        elif isinstance(f, ast.Attribute) and f.attr in ("savefig", "save", "dump", "to_csv", "imwrite"):
            second = isinstance(f.value, ast.Name) and f.value.id in ("torch", "json", "pickle")
            args = node.args[1:] if second else node.args
            target = args[0] if args else None
        elif isinstance(f, ast.Name) and f.id == "open":
            mode = node.args[1] if len(node.args) > 1 else next((k.value for k in node.keywords if k.arg == "mode"),
                                                               None)
            if isinstance(mode, ast.Constant) and any(c in str(mode.value) for c in "wax+"):
                target = node.args[0]
        if target is not None:
            yield node.lineno, ast.unparse(f), ast.unparse(target)


def _modules():
    """Every module of helpers/ and tools/, their sub-packages' too (helpers/data/, tools/sweep/)."""
    return sorted([*ROOT.glob("helpers/**/*.py"), *ROOT.glob("tools/**/*.py")])


def test_the_scan_covers_the_sub_packages():
    """Before: it globbed helpers/*.py and tools/*.py, and never read helpers/data/ or tools/sweep/."""
    names = {path.relative_to(ROOT).as_posix() for path in _modules()}
    assert {"tools/sweep/store.py", "tools/sweep/runner.py", "helpers/data/cache.py", "tools/run.py"} <= names
    assert all((ROOT / module).is_file() for module, _ in ALLOWED), "an ALLOWED entry names no module"


def test_no_module_writes_a_final_path_directly():
    """Every write in helpers/ and tools/ goes to atomic_output's temporary path or an in-memory buffer, except the
    few listed in ALLOWED with their reason (helpers/files.py itself is the one place that writes)."""
    found, modules = [], _modules()
    assert len(modules) > 10
    for path in modules:
        name = path.relative_to(ROOT).as_posix()
        if name == "helpers/files.py":
            continue
        tree = ast.parse(path.read_text())
        safe = _safe_names(tree)
        for line, call, target in _writes(tree):
            if target not in safe and (name, target) not in ALLOWED and (name, "*") not in ALLOWED:
                found.append(f"{name}:{line}: {call}(...) writes {target} in place: use helpers.files")
    assert not found, "\n".join(found)


def test_the_scan_finds_direct_writes():
    code = ('p.write_text("x")\nopen(p, "w")\nopen(q, mode="a")\nfig.savefig(out / "a.png")\ntorch.save(obj, path)\n'
            'open(r)\nwith atomic_output(p) as tmp:\n    fig.savefig(tmp)\nbuf = io.BytesIO()\nim.save(buf, "PNG")\n'
            'tmp2 = p.with_suffix(".tmp")\ntmp2.write_text("x")\n')
    tree = ast.parse(code)
    assert sorted(t for _, _, t in _writes(tree)) == sorted(["p", "p", "q", "out / 'a.png'", "path", "tmp", "buf",
                                                            "tmp2"])
    assert _safe_names(tree) == {"tmp", "buf"}          # a temporary file of one's own is not atomic_output's


# -- output paths -------------------------------------------------------------------------------------------------

def test_same_or_inside_through_links(tmp_path):
    folder = tmp_path / "images"
    folder.mkdir()
    photo = folder / "a.png"
    photo.write_bytes(b"x")
    (tmp_path / "link").symlink_to(folder)
    os.link(photo, tmp_path / "hard.png")
    assert is_same_or_inside(photo, photo) and is_same_or_inside(tmp_path / "link" / "a.png", photo)
    assert is_same_or_inside(tmp_path / "hard.png", photo)                  # a hard link: the same file
    assert is_same_or_inside(folder / "new" / "out", folder) and is_same_or_inside(tmp_path / "link", folder)
    assert is_same_or_inside(folder / ".." / "images", folder)
    assert not is_same_or_inside(tmp_path / "images2", folder) and not is_same_or_inside(tmp_path, folder)
    with pytest.raises(OutputError, match=r"hard.png is the input .*a.png"):
        check_not_input(tmp_path / "hard.png", [photo])
    with pytest.raises(OutputError, match="lies inside the input"):
        check_not_input(folder / "rd", [None, folder], "--out")
    check_not_input(tmp_path / "out", [None, folder, photo])


def test_an_output_folder_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match="--out .*f is an existing file"):
        check_output_folder(tmp_path / "f")
    check_output_folder(tmp_path)
    check_output_folder(tmp_path / "new")

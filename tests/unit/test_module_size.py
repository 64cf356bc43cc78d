"""No library, fixture or suite module over 400 lines: a module that grows past it is split by
what its parts are (not excused with a note)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 400
FOLDERS = ("src", "e2e")


def too_long(root: Path, folders: tuple[str, ...], limit: int) -> dict[str, int]:
    """Each .py under root/<folder> with more than `limit` lines -> its line count."""
    return {str(path.relative_to(root)): count
            for folder in folders for path in sorted((root / folder).rglob("*.py"))
            if (count := len(path.read_text().splitlines())) > limit}


def test_no_module_is_over_the_limit():
    checked = [p for folder in FOLDERS for p in (ROOT / folder).rglob("*.py")]
    assert len(checked) > 50, f"found only {len(checked)} modules under {FOLDERS}: is ROOT ({ROOT}) the repo?"
    assert too_long(ROOT, FOLDERS, LIMIT) == {}, \
        f"modules over {LIMIT} lines: split each by what its parts are"


def test_a_module_over_the_limit_is_found(tmp_path):
    (tmp_path / "src" / "pkg").mkdir(parents=True)
    (tmp_path / "src" / "pkg" / "long.py").write_text("x = 1\n" * (LIMIT + 1))
    (tmp_path / "src" / "pkg" / "short.py").write_text("x = 1\n" * LIMIT)
    assert too_long(tmp_path, ("src",), LIMIT) == {"src/pkg/long.py": LIMIT + 1}

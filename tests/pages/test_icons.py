"""Icons are Material icons, never emoji (an empty box where no emoji font is installed)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from streamlit.string_util import validate_material_icon

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "app.py", *sorted((ROOT / "pages").glob("*.py"))]
#: Emoji and pictographs (and the variation selector that makes a symbol an emoji).
_EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\ufe0f]")


def _icons(path: Path) -> list[tuple[int, str]]:
    """Every string given as ``icon=``/``page_icon=``, and the icons of app.py's page table."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.keyword) and node.arg in ("icon", "page_icon"):
            if isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
                found.append((node.value.lineno, node.value.value))
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "PAGES" for t in node.targets
        ):
            for row in node.value.elts:
                found.append((row.lineno, row.elts[2].value))  # (file, title, icon, role)
    return found


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_every_icon_is_a_material_icon(path):
    for line, icon in _icons(path):
        assert icon.startswith(":material/"), f"{path.name}:{line} uses the icon {icon!r}"
        validate_material_icon(icon)  # raises for a name Streamlit does not know


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_emoji_anywhere_in_the_pages(path):
    text = path.read_text(encoding="utf-8")
    found = [
        (n, m.group()) for n, line in enumerate(text.splitlines(), 1) for m in _EMOJI.finditer(line)
    ]
    assert found == [], f"{path.name}: emoji at {found}"


def test_the_page_table_is_found():
    assert len(_icons(ROOT / "app.py")) >= 8  # the test reads the icons it means to

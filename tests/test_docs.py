"""The docs hold together: no reference to design notes outside the repository, every relative
link in README.md and docs/*.md leads to a file (and a heading) that exists, every module, test
file and test a doc names exists, and the configuration example of docs/design.md loads.

The design notes the team keeps elsewhere are not in the repository; docs/design.md is their
counterpart in it, so code and docs point there and nowhere else.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Final

import pytest

from monitor.config.settings import load_file
from tests.config.test_config import DESIGN_EXAMPLE, TOKEN, WHSEC
from tests.support.paths import ROOT

DOCS: Final = ROOT / "docs"
DESIGN_PAGE: Final = DOCS / "design.md"
PAGES: Final = (ROOT / "README.md", *sorted(DOCS.glob("*.md")))

#: Not the repository's files: version control, the virtualenv, caches and build output.
SKIPPED_DIRS: Final = frozenset(
    {
        ".git",
        ".venv",
        "__pycache__",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        ".hypothesis",
        "build",
        "dist",
    }
)
#: Any spelling of the design page's file name (written so that this file does not contain one).
DESIGN_NAME: Final = re.compile(rb"design\.md", re.IGNORECASE)

FENCE: Final = re.compile(r"^(```|~~~).*?^\1[^\n]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN: Final = re.compile(r"(`+)(?:(?!\1).)+?\1", re.DOTALL)
INLINE_LINK: Final = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
REFERENCE_LINK: Final = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)", re.MULTILINE)
HEADING: Final = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
SCHEME: Final = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:|^//")
NAMED_FILE: Final = re.compile(r"`([\w./-]+\.py)`")
NAMED_TEST: Final = re.compile(r"`(test_\w+)`")


def repository_files() -> Iterator[Path]:
    stack = [ROOT]
    while stack:
        directory = stack.pop()
        for entry in sorted(directory.iterdir()):
            if entry.is_dir() and not entry.is_symlink():
                if entry.name not in SKIPPED_DIRS and not entry.name.endswith(".egg-info"):
                    stack.append(entry)
            elif entry.is_file():
                yield entry


def stray_design_names(path: Path, data: bytes) -> list[str]:
    """Mentions of the design page other than as docs/design.md (or as a relative ``design.md``
    inside docs/, and in this file, which looks for it): each as ``path:line: text``."""
    relative = path.relative_to(ROOT)
    in_docs = relative.parent == Path("docs") or path == Path(__file__).resolve()
    found = []
    for match in DESIGN_NAME.finditer(data):
        spelled_right = match.group(0) == b"design.md"
        qualified = data[max(0, match.start() - 5) : match.start()] == b"docs/"
        if spelled_right and (qualified or in_docs):
            continue
        line = data.count(b"\n", 0, match.start()) + 1
        text = data.splitlines()[line - 1].decode("utf-8", "replace").strip()
        found.append(f"{relative}:{line}: {text}")
    return found


def test_the_design_page_is_named_one_way_everywhere() -> None:
    """Code and docs once pointed at design notes that are not in the repository."""
    assert DESIGN_PAGE.is_file()
    stray = [
        mention
        for path in repository_files()
        for mention in stray_design_names(path, path.read_bytes())
    ]
    assert stray == [], "name the design page as docs/design.md:\n" + "\n".join(stray)


def test_the_stray_name_check_finds_what_it_should() -> None:
    upper = b"DESIGN" + b".md"
    assert stray_design_names(ROOT / "monitor" / "x.py", b"see " + upper + b"\n")
    assert stray_design_names(ROOT / "monitor" / "x.py", b"see design.md\n")
    assert stray_design_names(ROOT / "docs" / "x.md", b"[d](" + upper + b")\n")
    assert not stray_design_names(ROOT / "monitor" / "x.py", b"see docs/design.md\n")
    assert not stray_design_names(ROOT / "docs" / "x.md", b"[design](design.md)\n")


def prose(text: str) -> str:
    """Markdown without its code blocks and code spans, where nothing is a link."""
    return CODE_SPAN.sub("", FENCE.sub("", text))


def anchors(page: Path) -> set[str]:
    """The heading anchors GitHub makes: lower case, punctuation dropped, spaces to hyphens,
    repeats numbered."""
    seen: dict[str, int] = {}
    made = set()
    for heading in HEADING.findall(FENCE.sub("", page.read_text(encoding="utf-8"))):
        text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
        slug = re.sub(r"[^\w\- ]", "", text.lower()).replace(" ", "-")
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        made.add(slug if count == 0 else f"{slug}-{count}")
    return made


def links(page: Path) -> list[str]:
    text = prose(page.read_text(encoding="utf-8"))
    return INLINE_LINK.findall(text) + REFERENCE_LINK.findall(text)


def broken_link(page: Path, target: str) -> str | None:
    """Why ``target``, linked from ``page``, leads nowhere; None if it leads somewhere."""
    path, _, anchor = target.partition("#")
    goal = (page.parent / path).resolve() if path else page
    if not goal.is_relative_to(ROOT):
        return "outside the repository"
    if not goal.exists():
        return "no such file"
    if anchor and goal.suffix == ".md" and anchor not in anchors(goal):
        return f"no heading #{anchor} in {goal.relative_to(ROOT)}"
    return None


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_relative_links_lead_to_files_and_headings_that_exist(page: Path) -> None:
    relative = [target for target in links(page) if not SCHEME.match(target)]
    broken = [f"{target}: {why}" for target in relative if (why := broken_link(page, target))]
    assert broken == [], f"{page.relative_to(ROOT)}: broken links:\n" + "\n".join(broken)


def test_the_link_check_sees_links_and_only_links(tmp_path: Path) -> None:
    page = DOCS / "x.md"
    text = "[a](design.md#invariants) ![b](<../README.md>) `[c](no.md)`\n```\n[d](no.md)\n```\n"
    page_links = INLINE_LINK.findall(prose(text)) + REFERENCE_LINK.findall(prose(text))
    assert page_links == ["design.md#invariants", "../README.md"]
    assert broken_link(page, "design.md#invariants") is None
    assert broken_link(page, "design.md#no-such-heading") is not None
    assert broken_link(page, "nowhere.md") == "no such file"
    assert broken_link(page, "../../x") == "outside the repository"
    assert "modules-monitor" in anchors(DOCS / "architecture.md")  # "Modules (`monitor/`)"


def named_file_exists(name: str) -> bool:
    """A path from the root, monitor/ or tests/; or a test module's bare file name, found once
    anywhere under tests/ (its folders mirror monitor/'s, and a name there is unique)."""
    if any((base / name).is_file() for base in (ROOT, ROOT / "monitor", ROOT / "tests")):
        return True
    return "/" not in name and len(list((ROOT / "tests").rglob(name))) == 1


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(ROOT)))
def test_modules_and_tests_a_page_names_exist(page: Path) -> None:
    """A page that says where an invariant is enforced and which tests pin it must name real
    modules, test files and tests."""
    text = page.read_text(encoding="utf-8")
    missing = [name for name in NAMED_FILE.findall(text) if not named_file_exists(name)]
    defined = {
        match
        for path in (ROOT / "tests").rglob("test_*.py")
        for match in re.findall(r"^(?:async )?def (test_\w+)", path.read_text("utf-8"), re.M)
    }
    missing += [name for name in NAMED_TEST.findall(text) if name not in defined]
    assert missing == [], f"{page.relative_to(ROOT)} names what does not exist: {missing}"


def test_the_configuration_example_of_the_design_page_is_the_one_the_tests_load(
    tmp_path: Path,
) -> None:
    section = DESIGN_PAGE.read_text(encoding="utf-8").split("### Configuration", 1)[1]
    example = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert example is not None
    env = {"CANVAS_TOKEN": TOKEN, "WEBHOOK_SECRET": WHSEC}
    documented = tmp_path / "documented.yaml"
    documented.write_text(example.group(1), encoding="utf-8")
    tested = tmp_path / "tested.yaml"
    tested.write_text(DESIGN_EXAMPLE, encoding="utf-8")
    assert load_file(documented, env) == load_file(tested, env)

"""docs/architecture.md names every module of the package code by its path, and no module that
is gone: a module added, moved or renamed without its line in the doc fails here."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "architecture.md"
#: The package code: every .py file below these folders is a module the doc must name.
PACKAGES = ("coinlstm", "crawl", "train", "predict")
#: A module's path as the doc writes it: in backquotes, from one of the packages' folders.
NAMED = re.compile(r"`((?:" + "|".join(PACKAGES) + r")/[\w/]+\.py)`")


def package_modules() -> set[str]:
    return {path.relative_to(REPO).as_posix() for package in PACKAGES
            for path in (REPO / package).rglob("*.py")}


def test_every_module_is_named_by_its_path():
    named = set(NAMED.findall(DOC.read_text()))
    missing = sorted(package_modules() - named)
    assert missing == [], f"docs/architecture.md ('Every module') lacks {', '.join(missing)}"


def test_every_path_named_is_a_module():
    gone = sorted(set(NAMED.findall(DOC.read_text())) - package_modules())
    assert gone == [], f"docs/architecture.md names modules that do not exist: {gone}"


def test_the_rule_reads_paths_in_backquotes_only():
    text = "`coinlstm/app/cli.py` and coinlstm/app/demo.py and `train/steps/cache.py`: ok"
    assert NAMED.findall(text) == ["coinlstm/app/cli.py", "train/steps/cache.py"]

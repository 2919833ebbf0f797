"""A non-editable install (the README's first command) ships every template and static file of the pages:
setuptools installs only the non-Python files `package-data` names."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "watcher_server"


def test_every_page_template_and_static_file_is_named_in_package_data():
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["watcher_server"]
    files = [
        p.relative_to(PACKAGE).as_posix()
        for folder in ("web/templates", "web/static")
        for p in (PACKAGE / folder).rglob("*")
        if p.is_file()
    ]
    assert len(files) > 10
    missing = [f for f in files if not any(fnmatch.fnmatch(f, pattern) for pattern in patterns)]
    assert missing == [], "add these to [tool.setuptools.package-data] in pyproject.toml"

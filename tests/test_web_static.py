"""The chat page's files: everything it loads ships in the package, the vendored
libraries are the versions VENDOR.md names (their hashes) with their licenses."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

STATIC = Path(__file__).resolve().parents[1] / "src" / "talkline" / "serve" / "static"
VENDOR = STATIC / "vendor"


def test_the_vendored_files_are_the_ones_vendor_md_names() -> None:
    text = (VENDOR / "VENDOR.md").read_text(encoding="utf-8")
    listed = dict((name, digest) for digest, name in re.findall(r"^([0-9a-f]{64})  (\S+)$",
                                                                text, re.M))
    shipped = {p.name for p in VENDOR.iterdir() if p.suffix in (".js", ".css")}
    assert set(listed) == shipped == {"markdown-it.min.js", "highlight.min.js",
                                      "highlight-github.min.css"}
    for name, digest in listed.items():
        assert hashlib.sha256((VENDOR / name).read_bytes()).hexdigest() == digest, name
    assert "| `markdown-it` | 15.0.3 |" in text and "11.11.1" in text
    for license_file in ("markdown-it.LICENSE", "highlight.js.LICENSE"):
        assert "Permission" in (VENDOR / license_file).read_text(encoding="utf-8") or \
            "Redistribution" in (VENDOR / license_file).read_text(encoding="utf-8")


def test_the_page_loads_only_its_own_files_and_nothing_inline() -> None:
    html = (STATIC / "index.html").read_text(encoding="utf-8")
    loaded = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert loaded, "the page loads its scripts and styles"
    for url in loaded:
        assert url.startswith("/static/"), url
        assert (STATIC / url.removeprefix("/static/")).is_file(), url
    assert not re.search(r"<script(?![^>]*\bsrc=)", html)  # no inline script
    assert "<style" not in html and not re.search(r"\sstyle=", html)  # no inline styles
    assert not re.search(r"\son[a-z]+=", html)  # no inline handlers


def test_nothing_is_loaded_from_another_site() -> None:
    for path in STATIC.iterdir():
        if path.suffix in (".html", ".css", ".js"):
            assert re.search(r"(https?:)?//[a-z0-9.-]+\.[a-z]", path.read_text(
                encoding="utf-8").replace("// ", "")) is None, path.name

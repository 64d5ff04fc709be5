"""MkDocs hook: a link from a page to a file of the repository outside docs/ (`../Dockerfile`) points at that
file on the repository's site (`repo_url`), so the same Markdown works on GitHub and on the docs site. A link
to a file that does not exist fails the build, like a broken link between pages does."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from mkdocs.exceptions import PluginError

LINK = re.compile(r"\]\((\.\./[^)\s#]+)(#[^)\s]*)?\)")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    docs = Path(config["docs_dir"]).resolve()
    here = (docs / page.file.src_path).parent
    root = docs.parent
    base = (config.get("repo_url") or "").rstrip("/") + "/blob/main/"

    def to_repo(match: re.Match[str]) -> str:
        target = (here / match.group(1)).resolve()
        if target.is_relative_to(docs):
            return match.group(0)  # a page or image of the site: MkDocs checks it
        if not target.is_relative_to(root) or not target.exists():
            raise PluginError(f"{page.file.src_path}: the link {match.group(1)} names no file of the repository")
        return f"]({base}{target.relative_to(root).as_posix()}{match.group(2) or ''})"

    return LINK.sub(to_repo, markdown)

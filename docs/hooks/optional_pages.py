"""An mkdocs hook: pages that other work is writing join the nav once they exist.

``docs/storage.md`` (the storage adapters and their benchmark) and
``docs/scaling.md`` (several server processes behind Redis) are written
alongside this site. Listing a missing page in ``nav`` fails the strict build,
and leaving a present page out of it hides the page; so each is added here,
under Operations, when its file is there.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

#: (title, page, the nav entry it goes after) in the Operations section.
OPTIONAL_PAGES = [
    ("Storage: SQLite and MongoDB", "storage.md", "operations/configuration.md"),
    ("Several processes", "scaling.md", "operations/scaling.md"),
]


def on_config(config: Any, **kwargs: Any) -> Any:
    docs = Path(config["docs_dir"])
    for section in config["nav"] or []:
        if not isinstance(section, dict) or "Operations" not in section:
            continue
        entries: list[Any] = section["Operations"]
        for title, page, after in OPTIONAL_PAGES:
            listed = [next(iter(e.values())) if isinstance(e, dict) else e for e in entries]
            if (docs / page).is_file() and page not in listed:
                where = listed.index(after) + 1 if after in listed else len(entries)
                entries.insert(where, {title: page})
    return config

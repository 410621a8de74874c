"""One driver naming across sources.

Sources spell drivers differently ("John Hunter Nemechek" / "John H. Nemechek",
"A.J. Allmendinger" / "AJ Allmendinger", "Daniel Suárez" / "Daniel Suarez",
"Ricky Stenhouse Jr" / "Ricky Stenhouse Jr.", salary-site markers such as "(i)" or "#").
``name_key`` reduces a spelling to a comparison key; curated aliases (data/name_aliases.csv)
map keys that normalization alone cannot join. The canonical name of a driver is the
spelling of the Cup results history.
"""

from __future__ import annotations

import re
import unicodedata

_MARKERS = re.compile(r"\(\s*[a-z]\s*\)|#\s*\d*|\*", re.IGNORECASE)
_SUFFIXES = {"jr", "sr", "ii", "iii", "iv"}


def name_key(name: str) -> str:
    """Comparison key of a driver spelling: accents, case, punctuation, suffixes and
    salary-site markers removed; runs of initials joined ("a j" -> "aj")."""
    s = unicodedata.normalize("NFKD", str(name))
    s = "".join(c for c in s if not unicodedata.combining(c))
    s = _MARKERS.sub(" ", s.lower())
    s = re.sub(r"[.,'`’]", " ", s)
    s = re.sub(r"[^a-z0-9\- ]", " ", s)
    tokens = [t for t in s.split() if t not in _SUFFIXES]
    merged: list[str] = []
    for t in tokens:
        # join initials at the start of a name ("a j allmendinger"), never a middle initial
        if len(t) == 1 and len(merged) == 1 and len(merged[0]) <= 2:
            merged[0] += t
        else:
            merged.append(t)
    return " ".join(merged)


def driver_slug(name: str) -> str:
    """Stable driver id from a canonical name: "John Hunter Nemechek" -> "john-hunter-nemechek"."""
    return name_key(name).replace(" ", "-")


class NameIndex:
    """Maps any spelling to a canonical history name.

    ``canonical`` are the history spellings; ``aliases`` maps an alias spelling to a
    canonical spelling. Two canonical names with the same key are an error: the key
    would silently merge two drivers.
    """

    def __init__(self, canonical: list[str], aliases: dict[str, str] | None = None):
        self._by_key: dict[str, str] = {}
        for name in canonical:
            key = name_key(name)
            other = self._by_key.get(key)
            if other is not None and other != name:
                raise ValueError(f"driver names {other!r} and {name!r} share the key {key!r}")
            self._by_key[key] = name
        for alias, target in (aliases or {}).items():
            tkey = name_key(target)
            if tkey not in self._by_key:
                continue  # alias to a driver absent from this history
            self._by_key.setdefault(name_key(alias), self._by_key[tkey])

    def canonical(self, name: str) -> str | None:
        """The history spelling of ``name``, or None when no driver matches."""
        return self._by_key.get(name_key(name))

    def suggest(self, name: str, limit: int = 3) -> list[str]:
        """Closest history names, for an unmatched-name report."""
        from rapidfuzz import fuzz, process

        hits = process.extract(name_key(name), list(self._by_key), scorer=fuzz.WRatio, limit=limit)
        return sorted({self._by_key[k] for k, score, _ in hits if score >= 80})

    def __contains__(self, name: str) -> bool:
        return name_key(name) in self._by_key

"""The store of added races: seasons a user adds with ``pitwall data add``, kept in the state
directory (PITWALL_STATE_DIR/data), never in the installed package's data/.

It holds the same canonical tables as the shipped data (results, index, loop, practice) for
the added races only, plus what those races taught Pitwall: tracks never seen before (with
their type), spellings of track names, and NASCAR driver ids. ``History.load`` reads the
shipped data and this store together; an added race replaces a shipped one with the same
season and race number.

Writes are atomic: the new store is written to a fresh folder and swapped in with one rename,
so a reader sees the old store or the new one, never half of either. Writers are serialized:
a read-modify-write of the store (``pitwall data add``) holds ``SeasonStore.writing()``, a file
lock in the state directory (the filelock library), so two adds started at once both land
(the second waits for the first and reads what it wrote) instead of the last one silently
dropping the other's races.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import pandas as pd

TABLES = ("results", "index", "loop", "practice")
LOCK_WAIT_S = 600.0  # the longest a writer waits for another one (an add takes seconds)


class StoreBusy(RuntimeError):
    """Another writer held the store for longer than LOCK_WAIT_S; the message names the lock file."""


@dataclass
class StoreContent:
    tables: dict[str, pd.DataFrame]
    tracks: pd.DataFrame
    aliases: pd.DataFrame
    driver_ids: pd.DataFrame
    log: list[dict] = field(default_factory=list)

    @property
    def index(self) -> pd.DataFrame:
        return self.tables["index"]


def _empty_tracks() -> pd.DataFrame:
    return pd.DataFrame({"track_id": pd.Series(dtype=str), "track": pd.Series(dtype=str), "length_mi": pd.Series(dtype=float),
                         "surface": pd.Series(dtype=str), "track_type": pd.Series(dtype=str),
                         "latest_race": pd.Series(dtype=str), "latest_race_laps": pd.Series(dtype="int64")})


class SeasonStore:
    """The added races under ``state_dir/data``."""

    def __init__(self, state_dir: Path | str | None):
        self.root = Path(state_dir) / "data" if state_dir else None

    @property
    def lock_path(self) -> Path:
        assert self.root is not None
        return self.root.parent / "data.lock"

    @contextmanager
    def writing(self, on_wait: Callable[[str], None] | None = None, timeout: float = LOCK_WAIT_S) -> Iterator[None]:
        """Hold the store's writer lock for a read-modify-write. When another writer holds it,
        ``on_wait`` is told (once) and this one waits for it, up to ``timeout`` seconds
        (StoreBusy after that, naming the lock file)."""
        from filelock import FileLock, Timeout

        self.lock_path.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(self.lock_path))
        try:
            lock.acquire(timeout=0)
        except Timeout:
            if on_wait is not None:
                on_wait(f"another `data add` is writing to {self.root}: waiting for it to finish")
            try:
                lock.acquire(timeout=timeout)
            except Timeout:
                raise StoreBusy(f"the store {self.root} stayed locked by another writer for {timeout:.0f} s "
                                f"(lock file {self.lock_path}); nothing was added") from None
        try:
            yield
        finally:
            lock.release()

    def exists(self) -> bool:
        return self.root is not None and (self.root / "manifest.json").exists()

    def version(self) -> str:
        """Changes whenever the store does (for caches of loaded history)."""
        if not self.exists():
            return "none"
        return json.loads((self.root / "manifest.json").read_text()).get("version", "none")

    def read(self) -> StoreContent | None:
        if not self.exists():
            return None
        tables = {t: pd.read_parquet(self.root / f"{t}.parquet") for t in TABLES}
        tracks = pd.read_parquet(self.root / "tracks.parquet")
        aliases = pd.read_csv(self.root / "track_ids.csv", keep_default_na=False)
        ids = pd.read_parquet(self.root / "driver_ids.parquet")
        log = json.loads((self.root / "manifest.json").read_text()).get("log", [])
        return StoreContent(tables, tracks, aliases, ids, log)

    def write(self, content: StoreContent) -> None:
        """Replace the store with ``content`` (see the module docstring): the new version is
        written to its own folder, then the ``data`` link is swapped to it with one atomic
        rename; the version before stays for readers still reading it, older ones go. The
        caller holds ``writing()`` from reading the store to this write."""
        assert self.root is not None
        versions = self.root.parent / ".data-versions"
        versions.mkdir(parents=True, exist_ok=True)
        stamp = f"{time.time():.6f}-{uuid.uuid4().hex[:8]}"
        new = versions / stamp
        new.mkdir()
        try:
            for t in TABLES:
                content.tables[t].reset_index(drop=True).to_parquet(new / f"{t}.parquet", index=False)
            content.tracks.reset_index(drop=True).to_parquet(new / "tracks.parquet", index=False)
            content.aliases.to_csv(new / "track_ids.csv", index=False)
            content.driver_ids.reset_index(drop=True).to_parquet(new / "driver_ids.parquet", index=False)
            manifest = {"version": stamp, "races": sorted(content.index["race_id"]), "log": content.log}
            (new / "manifest.json").write_text(json.dumps(manifest, indent=1))
            link = self.root.parent / f".data-link-{uuid.uuid4().hex}"
            os.symlink(new, link)
            previous = self.root.resolve() if self.root.is_symlink() else None
            os.replace(link, self.root)
        except BaseException:
            shutil.rmtree(new, ignore_errors=True)
            raise
        for old in versions.iterdir():
            if old not in (new, previous):
                shutil.rmtree(old, ignore_errors=True)

    @staticmethod
    def empty(like: dict[str, pd.DataFrame]) -> StoreContent:
        """An empty store whose tables have the columns of ``like``."""
        return StoreContent({t: like[t].iloc[0:0].copy() for t in TABLES}, _empty_tracks(),
                            pd.DataFrame({"track_id": pd.Series(dtype=str), "track": pd.Series(dtype=str),
                                          "aliases": pd.Series(dtype=str)}),
                            pd.DataFrame({"nascar_driver_id": pd.Series(dtype="int64"), "driver": pd.Series(dtype=str),
                                          "feed_name": pd.Series(dtype=str)}))

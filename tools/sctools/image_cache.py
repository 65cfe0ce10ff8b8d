"""Images ready to push (config blob, gzipped layers), kept on disk by image ID.

`images push` turns a local image into registry blobs with `docker save`
and gzip, about 90 s for the five Zuul images on a 2-core machine. One CI
run pushes the same images three times (tests/images, molecule's buildset
registry, the fleet's), and `fleet deploy` pushes them again on every run
after a `fleet down`. The image ID is the digest of the config, which lists
the digest of every uncompressed layer, and gzip here is deterministic
(registry.gzip_layer): an image ID seen before gives the very same blobs,
so they are read back from here instead of made again.

Layout under the directory (default ~/.cache/system-config/images):
  blobs/<hex>         a config or compressed layer blob, named by its sha256
  images/<hex>.json   an image by the hex of its ID: its blobs' digests and sizes

Only the images used most recently are kept (`prune`), and blobs that
none of them names. A damaged entry (a missing blob, another size, a
config whose digest is not the ID) is a miss, never a wrong push: the
registry checks every blob's digest as well.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from sctools.registry import Image, sha256_digest

# Two builds' worth of the five service images.
KEEP_IMAGES = 10
# A blob younger than this is never pruned: another push may be writing
# the image that names it.
BLOB_GRACE_SECONDS = 3600


def default_directory() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "system-config" / "images"


def _hex(digest: str) -> str:
    algorithm, _, value = digest.partition(":")
    if algorithm != "sha256" or len(value) != 64 or not all(c in "0123456789abcdef" for c in value):
        raise ValueError(f"not a sha256 digest: {digest!r}")
    return value


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ImageCache:
    def __init__(self, directory: Path | None = None, keep: int = KEEP_IMAGES):
        self.directory = directory or default_directory()
        self.keep = keep

    def _blob(self, digest: str) -> Path:
        return self.directory / "blobs" / _hex(digest)

    def _entry(self, image_id: str) -> Path:
        return self.directory / "images" / f"{_hex(image_id)}.json"

    def load(self, image_id: str) -> Image | None:
        """The image of this ID as stored, or None when absent or damaged."""
        entry = self._entry(image_id)
        try:
            index = json.loads(entry.read_text())
            blobs = []
            for item in [index["config"], *index["layers"]]:
                data = self._blob(item["digest"]).read_bytes()
                if len(data) != item["size"]:
                    return None
                blobs.append(data)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        if sha256_digest(blobs[0]) != image_id:
            return None
        entry.touch()  # most recently used: kept by prune
        return Image(blobs[0], tuple(blobs[1:]))

    def store(self, image_id: str, image: Image) -> None:
        """Keep the image's blobs under its ID, then prune the least recently used."""
        if sha256_digest(image.config) != image_id:
            raise ValueError(f"the config's digest is not the image ID {image_id}")
        items = []
        for data in (image.config, *image.layers):
            digest = sha256_digest(data)
            blob = self._blob(digest)
            if not (blob.is_file() and blob.stat().st_size == len(data)):
                _write_atomically(blob, data)
            else:
                blob.touch()
            items.append({"digest": digest, "size": len(data)})
        index = {"config": items[0], "layers": items[1:]}
        _write_atomically(self._entry(image_id), json.dumps(index, indent=1).encode())
        self.prune()

    def prune(self) -> None:
        """Forget all but the `keep` most recently used images, and blobs none of them names."""
        entries = sorted(
            (self.directory / "images").glob("*.json"),
            key=lambda p: p.stat().st_mtime,
            reverse=True,
        )
        for stale in entries[self.keep :]:
            stale.unlink(missing_ok=True)
        named: set[str] = set()
        for entry in entries[: self.keep]:
            try:
                index = json.loads(entry.read_text())
                named.update(_hex(i["digest"]) for i in [index["config"], *index["layers"]])
            except (OSError, ValueError, KeyError, TypeError):
                entry.unlink(missing_ok=True)
        cutoff = time.time() - BLOB_GRACE_SECONDS
        for blob in (self.directory / "blobs").glob("*"):
            if blob.name not in named and blob.stat().st_mtime < cutoff:
                blob.unlink(missing_ok=True)

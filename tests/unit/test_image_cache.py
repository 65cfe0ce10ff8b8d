"""sctools.image_cache: blobs of pushed images kept by image ID."""

from __future__ import annotations

import json
import os
import shutil
import time

import pytest

from sctools import image_cache, registry
from sctools.image_cache import ImageCache
from sctools.registry import sha256_digest


def image(seed: str) -> registry.Image:
    return registry.synthetic_image(seed, 0.01)


def image_id(img: registry.Image) -> str:
    return sha256_digest(img.config)


def test_a_stored_image_loads_with_the_same_blobs(tmp_path):
    cache = ImageCache(tmp_path)
    img = image("a")
    cache.store(image_id(img), img)
    assert ImageCache(tmp_path).load(image_id(img)) == img


def test_an_unknown_image_is_a_miss(tmp_path):
    assert ImageCache(tmp_path).load(image_id(image("a"))) is None


@pytest.mark.parametrize("damage", ["blob removed", "blob truncated", "index garbage"])
def test_a_damaged_entry_is_a_miss_not_a_wrong_image(tmp_path, damage):
    cache = ImageCache(tmp_path)
    img = image("a")
    cache.store(image_id(img), img)
    layer = tmp_path / "blobs" / sha256_digest(img.layers[0]).removeprefix("sha256:")
    entry = tmp_path / "images" / f"{image_id(img).removeprefix('sha256:')}.json"
    if damage == "blob removed":
        layer.unlink()
    elif damage == "blob truncated":
        layer.write_bytes(layer.read_bytes()[:-1])
    else:
        entry.write_text("{not json")
    assert cache.load(image_id(img)) is None


def test_a_config_that_is_not_the_image_id_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not the image ID"):
        ImageCache(tmp_path).store(image_id(image("b")), image("a"))
    assert not (tmp_path / "images").exists()


def test_prune_keeps_the_most_recently_used_images_and_their_blobs(tmp_path, monkeypatch):
    monkeypatch.setattr(image_cache, "BLOB_GRACE_SECONDS", 0)
    cache = ImageCache(tmp_path, keep=2)
    first, second, third = image("1"), image("2"), image("3")
    cache.store(image_id(first), first)
    cache.store(image_id(second), second)
    # Mtimes are the recency: make the first the oldest, then use it.
    old = time.time() - 100
    for entry in (tmp_path / "images").iterdir():
        os.utime(entry, (old, old))
    assert cache.load(image_id(first)) == first
    cache.store(image_id(third), third)
    assert cache.load(image_id(second)) is None
    assert cache.load(image_id(first)) == first
    assert cache.load(image_id(third)) == third
    wanted = {
        sha256_digest(blob).removeprefix("sha256:")
        for img in (first, third)
        for blob in (img.config, *img.layers)
    }
    assert {p.name for p in (tmp_path / "blobs").iterdir()} == wanted


def test_prune_leaves_young_blobs_another_push_may_be_writing(tmp_path):
    cache = ImageCache(tmp_path, keep=1)
    young = tmp_path / "blobs" / ("0" * 64)
    young.parent.mkdir(parents=True)
    young.write_bytes(b"being written")
    img = image("a")
    cache.store(image_id(img), img)
    assert young.exists()


def test_the_default_directory_follows_xdg_cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert image_cache.default_directory() == tmp_path / "system-config" / "images"


@pytest.mark.skipif(
    shutil.which("docker-registry") is None, reason="tools/prepare-host.sh installs docker-registry"
)
def test_a_cached_image_pushes_to_a_real_registry_under_its_id(tmp_path):
    cache = ImageCache(tmp_path / "cache")
    img = image("pushed")
    cache.store(image_id(img), img)
    loaded = cache.load(image_id(img))
    assert loaded is not None
    (tmp_path / "registry").mkdir()
    with registry.local_registry(tmp_path / "registry") as url:
        pushed = registry.Registry(url, "demo/cached").push(loaded, "1")
        assert registry.Registry(url, "demo/cached").config_digest("1") == image_id(img)
    assert pushed["config_digest"] == image_id(img)
    index = json.loads(next((tmp_path / "cache" / "images").iterdir()).read_text())
    assert [layer["digest"] for layer in pushed["layers"]] == [
        item["digest"] for item in index["layers"]
    ]

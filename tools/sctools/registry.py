"""Push images to a Docker registry over its HTTP API (v2), stdlib only.

Two sources of images:
  seed          a synthetic one-layer image (a file of N MiB of
                deterministic random bytes), to stock a stand-in for Docker
                Hub in tests: the same seed always gives the same digests
  push-archive  the output of `docker save` (one image), e.g. the Zuul
                images for the buildset registry; layers are gzipped

Only the standard library is used, so this file also runs on a test host
that has nothing but python3 (tests/standins copies it there). It prints one
JSON object: the manifest digest, its layers and sizes.

Usage:
  registry.py seed --registry http://127.0.0.1:5000 --name library/probe \
      --tag 1 --size-mb 4 --seed probe
  registry.py push-archive --registry http://127.0.0.1:5000 \
      --name zuul/zuul-scheduler --tag latest image.tar
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import hashlib
import io
import json
import random
import socket
import ssl
import subprocess
import sys
import tarfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
CONFIG_V1 = "application/vnd.docker.container.image.v1+json"
LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
# Fixed timestamps keep synthetic images reproducible.
EPOCH = "2026-01-01T00:00:00Z"


class RegistryError(Exception):
    """The registry refused a request or the input is unusable."""


def sha256_digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class Image:
    """An image ready to push: config blob and gzipped layer blobs."""

    config: bytes
    layers: tuple[bytes, ...]

    def manifest(self) -> bytes:
        body = {
            "schemaVersion": 2,
            "mediaType": MANIFEST_V2,
            "config": {
                "mediaType": CONFIG_V1,
                "size": len(self.config),
                "digest": sha256_digest(self.config),
            },
            "layers": [
                {"mediaType": LAYER_GZIP, "size": len(layer), "digest": sha256_digest(layer)}
                for layer in self.layers
            ],
        }
        return json.dumps(body, indent=2, sort_keys=True).encode()


# Compressed layers by the digest of their tar: images that share layers
# (the Zuul services share all but their last ones) compress them once.
_GZIPPED: dict[str, bytes] = {}


def gzip_layer(tar_bytes: bytes) -> bytes:
    # mtime=0: the same tar always gives the same compressed digest.
    key = sha256_digest(tar_bytes)
    if key not in _GZIPPED:
        _GZIPPED[key] = gzip.compress(tar_bytes, compresslevel=1, mtime=0)
    return _GZIPPED[key]


def synthetic_image(seed: str, size_mb: float) -> Image:
    """One layer holding /probe.bin: size_mb MiB of bytes drawn from seed."""
    payload = random.Random(seed).randbytes(int(size_mb * 1024 * 1024))
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("probe.bin")
        info.size = len(payload)
        info.mtime = 0
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(payload))
    tar_bytes = buf.getvalue()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": EPOCH,
        "config": {"Cmd": ["/probe.bin"], "Labels": {"system-config.seed": seed}},
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar_bytes)]},
        "history": [{"created": EPOCH, "created_by": f"registry.py seed {seed}"}],
    }
    return Image(json.dumps(config, sort_keys=True).encode(), (gzip_layer(tar_bytes),))


def member(tar: tarfile.TarFile, name: str) -> IO[bytes]:
    """A regular file of the archive; KeyError when there is none by that name."""
    found = tar.extractfile(name)
    if found is None:  # a directory or a link
        raise KeyError(name)
    return found


def archive_image(path: str) -> Image:
    """The single image in a `docker save` archive (legacy or OCI layout)."""
    try:
        with tarfile.open(path) as tar:
            try:
                index = json.load(member(tar, "manifest.json"))
            except KeyError as exc:
                raise RegistryError(
                    f"{path}: no manifest.json: not a `docker save` archive"
                ) from exc
            if len(index) != 1:
                raise RegistryError(f"{path}: holds {len(index)} images, expected exactly one")
            entry = index[0]
            config = member(tar, entry["Config"]).read()
            layers = tuple(gzip_layer(member(tar, name).read()) for name in entry["Layers"])
    except (OSError, tarfile.TarError) as exc:
        raise RegistryError(f"{path}: cannot read: {exc}") from exc
    return Image(config, layers)


def tls_context(cafile: str | None) -> ssl.SSLContext | None:
    """Verification against cafile instead of the system store (None: the default)."""
    return ssl.create_default_context(cafile=cafile) if cafile else None


class Registry:
    def __init__(self, base_url: str, name: str, cafile: str | None = None):
        self.base = base_url.rstrip("/")
        self.name = name
        self.context = tls_context(cafile)

    def _request(
        self,
        method: str,
        url: str,
        data: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:  # the open response (urlopen's), or None for a HEAD that found nothing
        req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
        try:
            return urllib.request.urlopen(req, timeout=120, context=self.context)
        except urllib.error.HTTPError as exc:
            if method == "HEAD" and exc.code == 404:
                return None
            detail = exc.read().decode(errors="replace")[:300]
            raise RegistryError(f"{method} {url}: HTTP {exc.code} {detail}") from exc
        except urllib.error.URLError as exc:
            raise RegistryError(f"{method} {url}: {exc.reason}") from exc

    def push_blob(self, blob: bytes) -> None:
        digest = sha256_digest(blob)
        if self._request("HEAD", f"{self.base}/v2/{self.name}/blobs/{digest}"):
            return
        resp = self._request("POST", f"{self.base}/v2/{self.name}/blobs/uploads/", b"")
        location = urllib.parse.urljoin(self.base + "/", resp.headers["Location"])
        sep = "&" if "?" in location else "?"
        self._request(
            "PUT",
            f"{location}{sep}digest={urllib.parse.quote(digest)}",
            blob,
            {"Content-Type": "application/octet-stream"},
        )

    def config_digest(self, tag: str) -> str | None:
        """Digest of the config blob of the image under tag (its image ID); None if absent."""
        try:
            url = f"{self.base}/v2/{self.name}/manifests/{tag}"
            resp = self._request("GET", url, headers={"Accept": MANIFEST_V2})
        except RegistryError as exc:
            if "HTTP 404" in str(exc):
                return None
            raise
        return json.loads(resp.read()).get("config", {}).get("digest")

    def push(self, image: Image, tag: str) -> dict:
        for blob in (image.config, *image.layers):
            self.push_blob(blob)
        manifest = image.manifest()
        self._request(
            "PUT",
            f"{self.base}/v2/{self.name}/manifests/{tag}",
            manifest,
            {"Content-Type": MANIFEST_V2},
        )
        return {
            "image": f"{self.name}:{tag}",
            "manifest_digest": sha256_digest(manifest),
            "config_digest": sha256_digest(image.config),
            "layers": [
                {"digest": sha256_digest(layer), "size": len(layer)} for layer in image.layers
            ],
        }


@contextlib.contextmanager
def local_registry(directory: Path) -> Iterator[str]:
    """A throwaway registry (Debian's docker-registry, no auth) on a free loopback port.

    Stores under directory; yields its base URL once it answers, stops it
    on exit. dockerd treats loopback registries as insecure ones, so the
    host's docker can push to and pull from it over plain HTTP.
    """
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = directory / "config.yml"
    config.write_text(
        "version: 0.1\n"
        f"storage: {{filesystem: {{rootdirectory: {directory / 'data'}}}}}\n"
        f"http: {{addr: '127.0.0.1:{port}'}}\n"
    )
    proc = subprocess.Popen(
        ["docker-registry", "serve", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{url}/v2/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise RegistryError(f"docker-registry on {url} did not answer within 10 s")
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for command in ("seed", "push-archive"):
        p = sub.add_parser(command)
        p.add_argument("--registry", required=True, help="base URL, e.g. http://127.0.0.1:5000")
        p.add_argument("--name", required=True, help="repository, e.g. library/probe")
        p.add_argument("--tag", default="latest")
        if command == "seed":
            p.add_argument("--size-mb", type=float, default=4)
            p.add_argument("--seed", default="probe")
        else:
            p.add_argument("archive", help="a `docker save` tar of one image")
    args = parser.parse_args(argv)
    try:
        if args.command == "seed":
            image = synthetic_image(args.seed, args.size_mb)
        else:
            image = archive_image(args.archive)
        result = Registry(args.registry, args.name).push(image, args.tag)
    except RegistryError as exc:
        print(f"registry: {exc}", file=sys.stderr)
        return 1
    json.dump(result, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())

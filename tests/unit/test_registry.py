"""sctools.registry against a real docker-registry (Debian's package)."""

from __future__ import annotations

import gzip
import io
import json
import shutil
import tarfile
import urllib.request

import pytest

from sctools import registry

pytestmark = pytest.mark.skipif(
    shutil.which("docker-registry") is None, reason="tools/prepare-host.sh installs docker-registry"
)


@pytest.fixture
def registry_url(tmp_path):
    with registry.local_registry(tmp_path) as url:
        yield url


def get(url: str, accept: str = "") -> tuple[bytes, dict]:
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.read(), dict(resp.headers)


def test_seeded_image_is_served_with_the_digests_it_reports(registry_url, capsys):
    assert (
        registry.main(
            [
                "seed",
                "--registry",
                registry_url,
                "--name",
                "library/probe",
                "--tag",
                "1",
                "--size-mb",
                "0.5",
                "--seed",
                "s1",
            ]
        )
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    body, headers = get(f"{registry_url}/v2/library/probe/manifests/1", registry.MANIFEST_V2)
    assert headers["Docker-Content-Digest"] == report["manifest_digest"]
    layer = report["layers"][0]["digest"]
    blob, _ = get(f"{registry_url}/v2/library/probe/blobs/{layer}")
    assert registry.sha256_digest(blob) == layer
    assert json.loads(body)["layers"][0]["size"] == len(blob)


def test_same_seed_gives_the_same_image_and_another_seed_another():
    a = registry.synthetic_image("a", 0.1).manifest()
    assert a == registry.synthetic_image("a", 0.1).manifest()
    assert a != registry.synthetic_image("b", 0.1).manifest()


def test_pushing_twice_is_harmless(registry_url, capsys):
    args = ["seed", "--registry", registry_url, "--name", "x/y", "--size-mb", "0.1"]
    assert registry.main(args) == 0
    assert registry.main(args) == 0
    first, second = capsys.readouterr().out.split("}\n{")
    assert json.loads(first + "}")["manifest_digest"] == json.loads("{" + second)["manifest_digest"]


def test_archive_round_trip(tmp_path, registry_url, capsys):
    """A docker-save style archive is pushed with its config and layers."""
    image = registry.synthetic_image("arc", 0.1)

    archive = tmp_path / "image.tar"
    with tarfile.open(archive, "w") as tar:

        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("config.json", image.config)
        add("layer/layer.tar", gzip.decompress(image.layers[0]))
        add(
            "manifest.json",
            json.dumps(
                [{"Config": "config.json", "Layers": ["layer/layer.tar"], "RepoTags": None}]
            ).encode(),
        )
    assert (
        registry.main(["push-archive", "--registry", registry_url, "--name", "a/b", str(archive)])
        == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["manifest_digest"] == registry.sha256_digest(image.manifest())


def test_not_an_archive_is_named_in_the_error(tmp_path, capsys):
    bogus = tmp_path / "bogus.tar"
    bogus.write_text("nope")
    assert (
        registry.main(
            ["push-archive", "--registry", "http://127.0.0.1:1", "--name", "a", str(bogus)]
        )
        == 1
    )
    assert str(bogus) in capsys.readouterr().err


def test_unreachable_registry_is_a_clear_error(capsys):
    assert (
        registry.main(
            ["seed", "--registry", "http://127.0.0.1:1", "--name", "a", "--size-mb", "0.01"]
        )
        == 1
    )
    assert "Connection refused" in capsys.readouterr().err


def test_config_digest_names_the_pushed_image_or_none(registry_url):
    image = registry.synthetic_image("cfg", 0.1)
    repo = registry.Registry(registry_url, "library/cfg")
    assert repo.config_digest("1") is None
    repo.push(image, "1")
    assert repo.config_digest("1") == registry.sha256_digest(image.config)

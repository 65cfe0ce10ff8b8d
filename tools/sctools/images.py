"""Build our service images from images/<family> and push them to a registry.

Two families of images, each built from its own Dockerfile (the image name
is the Dockerfile target) and sharing one tag:

  zuul      images/zuul: zuul-scheduler, zuul-web, zuul-merger, zuul-executor
            (one pip install, shared by all four) and zookeeper
  etherpad  images/etherpad: etherpad

  build   builds <prefix>/<image>:<tag> for every image (or those named with
          --image), plus <prefix>/<family>-builder:<tag> for each family
          built whole, the local-only build stage that keeps the build cache
          named (never pushed). An image whose tag already exists is not
          rebuilt. The families build side by side (one thread each);
          a family's failure fails the build once the others end.
  push    pushes the images (all, or those named with --image) to a
          registry (e.g. a buildset registry) over its HTTP API: `docker
          save`, then sctools.registry, because dockerd refuses plain-HTTP
          registries other than loopback ones. The blobs of a pushed image
          are kept by image ID (sctools.image_cache): pushing it again, to
          this registry or another, skips `docker save` and gzip.
  list    the tag the current inputs give each family, and which images
          exist locally.

A family's tag is <version>-<12 hex digits>: a hash of every file under
images/<family> that goes into the build context (all but those its
.dockerignore names, e.g. a README), the family's version and the base
image pinned to its recipe (BASE_IMAGE in its Dockerfile plus the hash of
tools/images/build-base-image.sh, which tools/prepare-host.sh runs; builds
use that pinned tag). The tag depends on the checkout alone: bridge
derives the same one without docker (plugins/lookup/image_tag.py), so the
hosts run the tag of the commit they were deployed from. Each version
is written in one place: Zuul's is the pin in requirements-zuul.txt (shared
with tox -e zuul; the build passes it as ZUUL_VERSION), Etherpad's the
default of `ARG ETHERPAD_VERSION=` in images/etherpad/Dockerfile (read here
for the tag, and passed back as the same build argument). Changed inputs
give a new tag; unchanged inputs are never rebuilt.

pip and npm in the builder stages need the host's CA bundle (a
TLS-inspecting proxy sits between us and PyPI and npm): the bundle
(--ca-bundle) is copied into a temporary build context as host-ca.crt and
only the builder stages copy it.

Docker on our hosts is engine 20.10 with a CLI that has no buildx, so builds
use the legacy builder (DOCKER_BUILDKIT=0) unless DOCKER_BUILDKIT is set in
the environment; the Dockerfiles work with both.

Exit codes (sctools.cli, the table in README.md):
  0    success (including: nothing to build)
  1    a docker build, `docker save` or a push failed (the log's tail is shown)
  2    bad usage or unusable inputs (arguments, requirements-zuul.txt,
       a Dockerfile, CA bundle)
  5    docker is unusable (CLI missing, daemon not answering) or an image is
       missing (the base image for build, a service image for push), or the
       registry does not answer at <registry>/v2/
  130  interrupted
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import contextvars
import fnmatch
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from sctools import REPO_ROOT, docker_cli, image_cache
from sctools.cli import Exit, ToolError, command
from sctools.image_cache import ImageCache
from sctools.registry import Image, Registry, RegistryError, archive_image, tls_context

SERVICES = ("scheduler", "web", "merger", "executor")


@dataclass(frozen=True)
class Family:
    """Images built from one Dockerfile, images/<name>/, under one tag."""

    name: str
    # Its images (Dockerfile targets) in build order: the first one's stages
    # are every stage the others share, so `--no-cache` only needs to apply
    # to the family's first build.
    build_order: tuple[str, ...]
    # The stage kept as <prefix>/<name>-builder:<tag> (build cache, local).
    builder_target: str
    # The build argument that carries the version.
    version_arg: str
    # True: the version is the `zuul==X` pin of --requirements (Zuul's, which
    # tox -e zuul shares); False: the default of `ARG <version_arg>=X` in the
    # Dockerfile.
    version_in_requirements: bool


FAMILIES = (
    # The executor is built first: its stages (builder, ansible, zuul) are
    # every stage the other Zuul services share (zookeeper shares nothing
    # but the base).
    Family(
        "zuul",
        ("zuul-executor", "zuul-scheduler", "zuul-web", "zuul-merger", "zookeeper"),
        builder_target="ansible",
        version_arg="ZUUL_VERSION",
        version_in_requirements=True,
    ),
    Family(
        "etherpad",
        ("etherpad",),
        builder_target="builder",
        version_arg="ETHERPAD_VERSION",
        version_in_requirements=False,
    ),
)
FAMILY_OF = {image: f for f in FAMILIES for image in f.build_order}
FAMILY_NAMED = {f.name: f for f in FAMILIES}
# Every image, named as its Dockerfile target.
IMAGES = (*(f"zuul-{s}" for s in SERVICES), "zookeeper", "etherpad")
BUILD_ORDER = tuple(image for f in FAMILIES for image in f.build_order)
DEFAULT_PREFIX = "system-config"
DEFAULT_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
INPUTS_LABEL = "system-config.inputs"
LOG_TAIL_LINES = 40
# The base images' recipe: its hash is in their tag (see pinned_base).
BASE_RECIPE = "tools/images/build-base-image.sh"
# Zuul's pin (zuul==X), shared with tox -e zuul: the zuul family's version.
ZUUL_REQUIREMENTS = "requirements-zuul.txt"

# -- inputs (pure functions, unit tested) ------------------------------------


def zuul_version(requirements: Path) -> str:
    """The exact version in the `zuul==X` line of a requirements file."""
    try:
        text = requirements.read_text()
    except OSError as exc:
        raise ToolError(f"{requirements}: cannot read: {exc.strerror}", Exit.USAGE) from exc
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split("#", 1)[0].split(";", 1)[0].strip()  # no comment, no marker
        match = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)", line)
        if not match or re.sub(r"[-_.]+", "-", match.group(1)).lower() != "zuul":
            continue
        pin = re.fullmatch(r"==\s*([0-9][A-Za-z0-9.+!-]*)", match.group(2).strip())
        if not pin:
            raise ToolError(
                f"{requirements}:{number}: zuul must be pinned exactly (zuul==X.Y.Z), "
                f"found {line!r}",
                Exit.USAGE,
            )
        return pin.group(1)
    raise ToolError(f"{requirements}: no `zuul==X.Y.Z` line", Exit.USAGE)


def dockerfile_arg(dockerfile: Path, name: str) -> str:
    """The default of `ARG <name>=...` in the Dockerfile."""
    try:
        text = dockerfile.read_text()
    except OSError as exc:
        raise ToolError(f"{dockerfile}: cannot read: {exc.strerror}", Exit.USAGE) from exc
    match = re.search(rf"^ARG\s+{re.escape(name)}=(\S+)\s*$", text, re.MULTILINE)
    if not match:
        raise ToolError(f"{dockerfile}: no `ARG {name}=<value>` line", Exit.USAGE)
    return match.group(1)


def base_image(dockerfile: Path) -> str:
    """The default of `ARG BASE_IMAGE=...` in the Dockerfile."""
    return dockerfile_arg(dockerfile, "BASE_IMAGE")


def family_version(family: Family, dockerfile: Path, requirements: Path) -> str:
    """The family's version, from the one place it is written."""
    if family.version_in_requirements:
        return zuul_version(requirements)
    version = dockerfile_arg(dockerfile, family.version_arg)
    if not re.fullmatch(r"[0-9][A-Za-z0-9._-]*", version):  # a tag's first part
        raise ToolError(
            f"{dockerfile}: `ARG {family.version_arg}={version}` is not a version", Exit.USAGE
        )
    return version


def ignore_patterns(image_dir: Path) -> list[str]:
    """The patterns of image_dir/.dockerignore (none when it has none)."""
    ignore = image_dir / ".dockerignore"
    if not ignore.is_file():
        return []
    patterns = []
    for number, raw in enumerate(ignore.read_text().splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("!") or "**" in line:
            raise ToolError(
                f"{ignore}:{number}: only plain paths and * ? [] globs are supported, "
                f"found {line!r}",
                Exit.USAGE,
            )
        patterns.append(line.strip("/"))
    return patterns


def build_inputs(image_dir: Path) -> list[Path]:
    """The files docker sends as build context: all under image_dir but .dockerignore's.

    A pattern matches a path from the directory's top (as docker's do), and
    a matched directory leaves out everything under it. Files left out
    (README.md, a test script) can change without changing the tag.
    """
    patterns = ignore_patterns(image_dir)

    def ignored(rel: str) -> bool:
        parts = rel.split("/")
        prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
        return any(
            fnmatch.fnmatchcase(prefix, pattern) and prefix.count("/") == pattern.count("/")
            for prefix in prefixes
            for pattern in patterns
        )

    return sorted(
        p
        for p in image_dir.rglob("*")
        if p.is_file() and not ignored(p.relative_to(image_dir).as_posix())
    )


def pinned_base(dockerfile: Path, recipe: Path) -> str:
    """The Dockerfile's base image pinned to its recipe, as the recipe tags it.

    `ARG BASE_IMAGE=<repo>:<release>` names the moving tag; the recipe
    (tools/images/build-base-image.sh) also tags each build
    <repo>:<release>-<first 12 hex of the recipe's sha256>. Builds use
    that tag, and it enters the family's tag: a new recipe gives new tags,
    and the tag is known from the checkout alone, without docker.
    """
    base = base_image(dockerfile)
    if not re.fullmatch(r"[a-z0-9][a-z0-9._/-]*:[a-z0-9]+", base):
        raise ToolError(
            f"{dockerfile}: `ARG BASE_IMAGE={base}` is not <repository>:<release> "
            f"(the images {recipe.name} makes)",
            Exit.USAGE,
        )
    try:
        recipe_hash = hashlib.sha256(recipe.read_bytes()).hexdigest()[:12]
    except OSError as exc:
        raise ToolError(f"{recipe}: cannot read: {exc.strerror}", Exit.USAGE) from exc
    return f"{base}-{recipe_hash}"


def family_inputs(family: Family) -> tuple[str, ...]:
    """Repository paths whose change can change the family's tag (a trailing
    slash: the directory), as the analysis behind `affected` counts them."""
    version = (ZUUL_REQUIREMENTS,) if family.version_in_requirements else ()
    return (f"images/{family.name}/", *version, BASE_RECIPE, "tools/sctools/images.py")


def family_identity(
    family: Family, images_root: Path, requirements: Path, recipe: Path
) -> tuple[str, str, str]:
    """What a family's tag is made of in a checkout: (version, pinned base, inputs digest)."""
    dockerfile = images_root / family.name / "Dockerfile"
    version = family_version(family, dockerfile, requirements)
    base = pinned_base(dockerfile, recipe)
    return version, base, inputs_digest(images_root / family.name, family.name, version, base)


def family_tag(family: Family, images_root: Path, requirements: Path, recipe: Path) -> str:
    """The tag a checkout gives a family (what `images build` tags it)."""
    version, _, digest = family_identity(family, images_root, requirements, recipe)
    return tag_of(version, digest)


def inputs_digest(image_dir: Path, name: str, version: str, base: str) -> str:
    """sha256 over the build inputs: files (path, mode, content), version, pinned base."""
    digest = hashlib.sha256()
    digest.update(f"{name}=={version}\nbase={base}\n".encode())
    for path in build_inputs(image_dir):
        rel = path.relative_to(image_dir).as_posix()
        executable = "x" if path.stat().st_mode & 0o111 else "-"  # not os.access: user, mount
        content = hashlib.sha256(path.read_bytes()).hexdigest()
        digest.update(f"{rel}\0{executable}\0{content}\n".encode())
    return digest.hexdigest()


def tag_of(version: str, digest: str) -> str:
    """A family's tag: <version>-<first 12 hex of its inputs' digest>."""
    return f"{version}-{digest[:12]}"


def derive_tag(image_dir: Path, name: str, version: str, base: str) -> str:
    return tag_of(version, inputs_digest(image_dir, name, version, base))


def image_ref(prefix: str, name: str, tag: str) -> str:
    return f"{prefix}/{name}:{tag}"


def builder_image(prefix: str, family: str, tag: str) -> str:
    return f"{prefix}/{family}-builder:{tag}"


def check_tag(tag: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}", tag):
        raise argparse.ArgumentTypeError(f"{tag!r} is not a valid image tag")
    return tag


def check_prefix(prefix: str) -> str:
    part = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
    if not re.fullmatch(rf"{part}(?:/{part})*", prefix):
        raise argparse.ArgumentTypeError(
            f"{prefix!r} is not a valid repository prefix (lower case, e.g. system-config)"
        )
    return prefix


def check_registry(url: str) -> str:
    if not re.fullmatch(r"https?://[^/\s]+/?", url):
        raise argparse.ArgumentTypeError(
            f"{url!r} is not a registry base URL (http://HOST:PORT or https://HOST)"
        )
    return url.rstrip("/")


# -- docker ------------------------------------------------------------------


def inspect(image: str) -> dict[str, Any] | None:
    return docker_cli.inspect("image", image)


def human_size(size: int) -> str:
    return f"{size / 1e6:,.0f} MB"


# Where log() writes in this thread (None: stdout). A thread that builds
# beside others (molecule-all's push) sends its progress to a file this
# way; contextlib.redirect_stdout would swap stdout for every thread.
_LOG_STREAM: contextvars.ContextVar[TextIO | None] = contextvars.ContextVar(
    "images_log_stream", default=None
)


@contextlib.contextmanager
def logging_to(stream: TextIO) -> Iterator[None]:
    """log() of this thread writes to stream inside the block."""
    token = _LOG_STREAM.set(stream)
    try:
        yield
    finally:
        _LOG_STREAM.reset(token)


_LOG_LOCK = threading.Lock()


def log(message: str) -> None:
    # One write per line under a lock: the families' threads share stdout.
    stream = _LOG_STREAM.get() or sys.stdout
    with _LOG_LOCK:
        stream.write(message + "\n")
        stream.flush()


# -- commands ----------------------------------------------------------------


@dataclass
class Plan:
    """One family's build: where, what version, on which base, under which tag."""

    family: Family
    image_dir: Path
    version: str
    base: str
    tag: str
    digest: str
    prefix: str

    def ref(self, image: str) -> str:
        return image_ref(self.prefix, image, self.tag)

    def builder(self) -> str:
        return builder_image(self.prefix, self.family.name, self.tag)


def plan(args: argparse.Namespace, need_base: bool) -> list[Plan]:
    """Every family's plan (inputs read first, then docker asked for the bases)."""
    identities = [
        (family, family_identity(family, args.images_root, args.requirements, args.recipe))
        for family in FAMILIES
    ]
    docker_cli.ensure_daemon()
    plans = []
    for family, (version, base, digest) in identities:
        image_dir: Path = args.images_root / family.name
        if need_base and inspect(base) is None:
            raise ToolError(
                f"base image {base} not found (named in {image_dir / 'Dockerfile'}, tagged with "
                f"the hash of {args.recipe.name}); tools/prepare-host.sh builds it",
                Exit.UNAVAILABLE,
            )
        tag = args.tag or tag_of(version, digest)
        plans.append(Plan(family, image_dir, version, base, tag, digest, args.prefix))
    return plans


def plan_of(plans: list[Plan], image: str) -> Plan:
    return next(p for p in plans if p.family is FAMILY_OF[image])


def build_one(
    p: Plan, target: str, image: str, context: Path, log_dir: Path, no_cache: bool
) -> float:
    """docker build one target; returns seconds taken, raises on failure."""
    log_dir.mkdir(parents=True, exist_ok=True)
    log_file = log_dir / f"{image.replace('/', '_').replace(':', '_')}.log"
    cmd = [
        "build",
        # A failed step must not leave its container behind.
        "--force-rm",
        "--target",
        target,
        "--tag",
        image,
        "--build-arg",
        f"{p.family.version_arg}={p.version}",
        "--build-arg",
        f"BASE_IMAGE={p.base}",
        "--label",
        f"{INPUTS_LABEL}={p.digest}",
    ]
    if no_cache:
        cmd.append("--no-cache")
    cmd.append(str(context))
    env = dict(os.environ)
    env.setdefault("DOCKER_BUILDKIT", "0")
    start = time.monotonic()
    with log_file.open("w") as out:
        out.write("$ docker " + " ".join(cmd) + "\n")
        # Each line stamped with the seconds since the start: shows which
        # step is slow.
        with docker_cli.stream(*cmd, env=env) as proc:
            for line in proc.stdout or ():
                out.write(f"{time.monotonic() - start:7.1f} {line}")
    seconds = time.monotonic() - start
    if proc.returncode != 0:
        tail = log_file.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
        raise ToolError(
            f"building {image} (target {target}) failed with exit code {proc.returncode} "
            f"after {seconds:.0f} s; last {len(tail)} lines of {log_file}:\n"
            + "\n".join("  " + line for line in tail),
            Exit.FAILED,
        )
    return seconds


def describe(p: Plan) -> str:
    return f"{p.family.name} {p.version} on {p.base}: tag {p.tag}"


def cmd_build(args: argparse.Namespace) -> int:
    ca_bundle: Path = args.ca_bundle
    if not ca_bundle.is_file():
        raise ToolError(
            f"{ca_bundle}: CA bundle not found (pip and npm in the builder stages need it; "
            "--ca-bundle names another)",
            Exit.USAGE,
        )
    plans = plan(args, need_base=True)
    wanted = set(args.image or IMAGES)
    work = [
        (p, names) for p in plans if (names := [n for n in p.family.build_order if n in wanted])
    ]
    total = time.monotonic()
    # Families share no stage, so they build side by side: their slow
    # steps (pip, npm, apt downloads) wait on the network more than on the
    # CPU. Each thread runs in a copy of this context, so a caller's
    # logging_to() stream gets their lines too.
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(work) or 1) as pool:
        futures = [
            pool.submit(contextvars.copy_context().run, build_family, p, names, args, ca_bundle)
            for p, names in work
        ]
        concurrent.futures.wait(futures)
    errors = [error for f in futures if (error := f.exception()) is not None]
    for error in errors[1:]:
        log(f"also failed: {error}")
    if errors:
        raise errors[0]
    built = sum(f.result() for f in futures)
    if built:
        log(f"built {built} images in {time.monotonic() - total:.1f} s (logs: {args.log_dir})")
    return Exit.OK


def build_family(p: Plan, names: list[str], args: argparse.Namespace, ca_bundle: Path) -> int:
    """Build the named images of one family unless they exist; returns how many were built."""
    fresh = args.force or args.no_cache
    todo = [n for n in names if fresh or inspect(p.ref(n)) is None]
    log(describe(p))
    for name in names:
        if name not in todo:
            log(f"  exists  {p.ref(name)} (not rebuilt)")
    if not todo:
        return 0
    targets = [(n, p.ref(n)) for n in todo]
    # Names the builder stages, so that the build cache survives
    # `docker image prune` and can be removed by name. Not when only
    # some of the family's images are asked for: zookeeper alone must
    # not build Zuul's builder stages.
    if len(names) == len(p.family.build_order):
        targets.append((p.family.builder_target, p.builder()))
    with tempfile.TemporaryDirectory(prefix="sctools-images-") as tmp:
        context = Path(tmp) / "context"
        shutil.copytree(p.image_dir, context)
        shutil.copyfile(ca_bundle, context / "host-ca.crt")
        for index, (target, image) in enumerate(targets):
            log(f"  build   {image} ...")
            seconds = build_one(
                p, target, image, context, args.log_dir, no_cache=args.no_cache and index == 0
            )
            size = (inspect(image) or {}).get("Size", 0)
            log(f"  built   {image}: {human_size(size)} in {seconds:.1f} s")
    return len(targets)


def check_registry_answers(url: str, cafile: str | None = None) -> None:
    try:
        with urllib.request.urlopen(f"{url}/v2/", timeout=10, context=tls_context(cafile)):
            pass
    except urllib.error.HTTPError as exc:
        raise ToolError(
            f"registry {url} answered HTTP {exc.code} at /v2/ (an unauthenticated "
            "registry API v2 is needed)",
            Exit.UNAVAILABLE,
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ToolError(f"registry {url} unreachable: {reason}", Exit.UNAVAILABLE) from exc


def cmd_push(args: argparse.Namespace) -> int:
    push_images(args)
    return Exit.OK


def push_images(args: argparse.Namespace) -> int:
    """Push the images the registry lacks (`push`'s work); how many were sent."""
    if args.ca_file and not Path(args.ca_file).is_file():
        raise ToolError(f"{args.ca_file}: --ca-file not found", Exit.USAGE)
    plans = plan(args, need_base=False)
    names = args.image or list(IMAGES)
    images = [plan_of(plans, n).ref(n) for n in names]
    missing = [image for image in images if inspect(image) is None]
    if missing:
        raise ToolError(
            f"not built: {', '.join(missing)} (run `python -m sctools.images build` first"
            + (", with the same --tag" if args.tag else "")
            + ")",
            Exit.UNAVAILABLE,
        )
    check_registry_answers(args.registry, args.ca_file)
    extra = [t for t in args.also_tag if t not in {p.tag for p in plans}]
    log(f"pushing to {args.registry}: each family's tag{''.join(f', {t}' for t in extra)}")
    total = time.monotonic()
    pushed = 0
    cache = ImageCache(args.cache_dir) if args.cache_dir else None
    with tempfile.TemporaryDirectory(prefix="sctools-images-", dir=args.tmp_dir) as tmp:
        for name, image in zip(names, images, strict=True):
            start = time.monotonic()
            p = plan_of(plans, name)
            tags = [p.tag, *[t for t in args.also_tag if t != p.tag]]
            registry = Registry(args.registry, f"{p.prefix}/{name}", args.ca_file)
            # The config blob's digest is the image ID: equal under every tag
            # means the registry has this very image, so nothing is sent.
            try:
                image_id = (inspect(image) or {}).get("Id")
                current = all(registry.config_digest(t) == image_id for t in tags)
            except RegistryError as exc:
                raise ToolError(f"reading {image} from the registry: {exc}", Exit.FAILED) from exc
            if current:
                log(f"  current {image} (already in the registry under {', '.join(tags)})")
                continue
            loaded = cache.load(image_id) if cache and image_id else None
            source = "blobs from the cache"
            try:
                if loaded is None:
                    source = "docker save"
                    loaded = saved_image(image, Path(tmp) / f"{name}.tar")
                    if cache and image_id:
                        store(cache, image_id, loaded)
                for tag in tags:
                    result = registry.push(loaded, tag)
            except RegistryError as exc:
                raise ToolError(f"pushing {image} ({source}): {exc}", Exit.FAILED) from exc
            pushed += 1
            compressed = sum(layer["size"] for layer in result["layers"])
            log(
                f"  pushed  {image}: {len(result['layers'])} layers, "
                f"{human_size(compressed)} compressed, {result['manifest_digest'][:19]} "
                f"in {time.monotonic() - start:.1f} s ({source})"
            )
    log(
        f"pushed {pushed} images ({len(images) - pushed} already current) "
        f"in {time.monotonic() - total:.1f} s"
    )
    return pushed


def saved_image(image: str, archive: Path) -> Image:
    """The image as registry blobs, through `docker save` into `archive` (removed after)."""
    docker_cli.run("save", "--output", str(archive), image)
    try:
        return archive_image(str(archive))
    finally:
        archive.unlink(missing_ok=True)


def store(cache: ImageCache, image_id: str, image: Image) -> None:
    """Keep the image's blobs for the next push; a cache that fails only costs that."""
    try:
        cache.store(image_id, image)
    except (OSError, ValueError) as exc:
        log(f"  note: not cached in {cache.directory}: {exc}")


def cmd_list(args: argparse.Namespace) -> int:
    plans = plan(args, need_base=False)
    rows = []
    for p in plans:
        entries = [(n, p.ref(n)) for n in IMAGES if FAMILY_OF[n] is p.family]
        entries.append((f"{p.family.name} builder (local only)", p.builder()))
        for name, image in entries:
            info = inspect(image)
            rows.append(
                {
                    "name": name,
                    "family": p.family.name,
                    "image": image,
                    "tag": p.tag,
                    "present": info is not None,
                    "size": info["Size"] if info else None,
                    "created": info["Created"][:19] if info else None,
                }
            )
    if args.json:
        families = {
            p.family.name: {"version": p.version, "tag": p.tag, "base": p.base} for p in plans
        }
        json.dump({"families": families, "images": rows}, sys.stdout, indent=2)
        print()
        return Exit.OK
    for p in plans:
        log(describe(p))
        for row in rows:
            if row["family"] != p.family.name:
                continue
            size, created = row["size"], row["created"]
            state = f"{human_size(int(size or 0))}, {created}" if row["present"] else "not built"
            log(f"  {row['image']:<60} {state}")
    return Exit.OK


# -- command line ------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="python -m sctools.images",
        description=__doc__.split("\n\n", 1)[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--prefix",
        type=check_prefix,
        default=DEFAULT_PREFIX,
        help=f"repository prefix: images are PREFIX/IMAGE (default {DEFAULT_PREFIX})",
    )
    common.add_argument(
        "--tag",
        type=check_tag,
        help="image tag (default: derived from the inputs, see above)",
    )
    common.add_argument(
        "--images-root",
        type=Path,
        default=REPO_ROOT / "images",
        help="directory holding one directory (with its Dockerfile) per family: "
        f"{', '.join(f.name for f in FAMILIES)} (default images)",
    )
    common.add_argument(
        "--requirements",
        type=Path,
        default=REPO_ROOT / ZUUL_REQUIREMENTS,
        help=f"file pinning zuul==VERSION (default {ZUUL_REQUIREMENTS})",
    )
    common.add_argument(
        "--recipe",
        type=Path,
        default=REPO_ROOT / BASE_RECIPE,
        help=f"the base image's recipe, whose hash pins the base (default {BASE_RECIPE})",
    )
    sub = top.add_subparsers(dest="command", required=True, metavar="{build,push,list}")

    build = sub.add_parser("build", parents=[common], help="build the images that do not exist")
    build.add_argument(
        "--image",
        action="append",
        choices=IMAGES,
        metavar="IMAGE",
        help=f"build only this image (repeatable; default all: {', '.join(IMAGES)})",
    )
    build.add_argument(
        "--ca-bundle",
        type=Path,
        default=Path(os.environ.get("PIP_CERT") or DEFAULT_CA_BUNDLE),
        help="CA bundle pip and npm use in the builder stages "
        f"(default $PIP_CERT or {DEFAULT_CA_BUNDLE})",
    )
    build.add_argument(
        "--force", action="store_true", help="build even when the tag exists (cache allowed)"
    )
    build.add_argument(
        "--no-cache",
        action="store_true",
        help="build from scratch, without docker's build cache (implies --force)",
    )
    build.add_argument(
        "--log-dir",
        type=Path,
        default=REPO_ROOT / ".tox" / "images-logs",
        help="where each build's full log goes (default .tox/images-logs)",
    )
    build.set_defaults(func=cmd_build)

    push = sub.add_parser("push", parents=[common], help="push the service images to a registry")
    push.add_argument(
        "--registry",
        required=True,
        type=check_registry,
        help="registry base URL, e.g. http://127.0.0.1:5000 (plain HTTP is fine)",
    )
    push.add_argument(
        "--ca-file",
        help="CA certificate(s) that verify an https registry, instead of the system store",
    )
    push.add_argument(
        "--image",
        action="append",
        choices=IMAGES,
        metavar="IMAGE",
        help=f"push only this image (repeatable; default all: {', '.join(IMAGES)})",
    )
    push.add_argument(
        "--also-tag",
        action="append",
        default=[],
        type=check_tag,
        metavar="TAG",
        help="push under this tag too, e.g. latest (repeatable)",
    )
    push.add_argument(
        "--tmp-dir",
        default=None,
        help="where `docker save` archives are written (default $TMPDIR or /tmp; "
        "needs room for the largest image)",
    )
    push.add_argument(
        "--cache-dir",
        type=lambda value: Path(value) if value else None,
        default=image_cache.default_directory(),
        help="where the blobs of pushed images are kept, so that pushing an image again "
        "skips `docker save` and gzip (default ~/.cache/system-config/images; "
        "an empty value: no cache)",
    )
    push.set_defaults(func=cmd_push)

    lister = sub.add_parser("list", parents=[common], help="the tag and the local images")
    lister.add_argument("--json", action="store_true", help="machine-readable output")
    lister.set_defaults(func=cmd_list)
    return top


@command("images")
def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())

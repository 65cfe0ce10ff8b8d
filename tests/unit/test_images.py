"""sctools.images without docker: inputs, tag derivation, argument errors.

The real builds, push and pull are tested in tests/images (minutes).
"""

from __future__ import annotations

import hashlib
import io
import re
import socket
import subprocess
import threading

import pytest

from sctools import REPO_ROOT, images
from sctools.cli import Exit, ToolError


@pytest.fixture
def image_dir(tmp_path):
    d = tmp_path / "zuul"
    d.mkdir()
    (d / "Dockerfile").write_text("ARG BASE_IMAGE=example/base:1\nFROM ${BASE_IMAGE}\n")
    (d / "files").mkdir()
    (d / "files" / "entry.sh").write_text("#!/bin/sh\n")
    return d


def tag(d, version="1.2.3", base="sha256:aaa", name="zuul"):
    return images.derive_tag(d, name, version, base)


# -- requirements-zuul.txt ---------------------------------------------------


def test_zuul_version_comes_from_the_repository_pin():
    pins = re.findall(r"^zuul==(\S+)", (REPO_ROOT / "requirements-zuul.txt").read_text(), re.M)
    assert images.zuul_version(REPO_ROOT / "requirements-zuul.txt") == pins[0]


@pytest.mark.parametrize(
    "text",
    [
        "zuul==1.2.3\n",
        "# the scheduler\nzuul == 1.2.3  # pinned\n",
        "zuul-client==9.9\nZuul==1.2.3\n",
        "pytest==9\nzuul==1.2.3 ; python_version >= '3.11'\n",
    ],
)
def test_zuul_version_is_read_from_an_exact_pin(tmp_path, text):
    req = tmp_path / "req.txt"
    req.write_text(text)
    assert images.zuul_version(req) == "1.2.3"


@pytest.mark.parametrize("line", ["zuul>=14", "zuul", "zuul~=14.3", "zuul==14.*"])
def test_a_loose_zuul_requirement_is_refused_with_file_and_line(tmp_path, line):
    req = tmp_path / "req.txt"
    req.write_text(f"pytest==9\n{line}\n")
    with pytest.raises(ToolError) as err:
        images.zuul_version(req)
    assert err.value.code == Exit.USAGE
    assert f"{req}:2" in str(err.value)


def test_no_zuul_line_is_an_error_naming_the_file(tmp_path):
    req = tmp_path / "req.txt"
    req.write_text("zuul-client==1.0\n")
    with pytest.raises(ToolError, match=re.escape(str(req))):
        images.zuul_version(req)


def test_missing_requirements_file_exits_2_naming_it(tmp_path, capsys):
    missing = tmp_path / "nope.txt"
    assert images.main(["list", "--requirements", str(missing)]) == Exit.USAGE
    assert str(missing) in capsys.readouterr().err


# -- Dockerfile --------------------------------------------------------------


def test_base_image_is_read_from_the_dockerfile(image_dir):
    assert images.base_image(image_dir / "Dockerfile") == "example/base:1"


def test_dockerfile_without_base_image_arg_is_an_error(tmp_path):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text("FROM debian\n")
    with pytest.raises(ToolError, match="BASE_IMAGE"):
        images.base_image(dockerfile)


def test_base_is_pinned_with_the_hash_the_recipe_tags_it_with():
    # tools/images/build-base-image.sh tags "$repo:$release-$(sha256sum "$0" | cut -c1-12)".
    recipe = REPO_ROOT / images.BASE_RECIPE
    shell = subprocess.run(
        ["sh", "-c", 'sha256sum "$1" | cut -c1-12', "sh", str(recipe)],
        capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    dockerfile = REPO_ROOT / "images" / "zuul" / "Dockerfile"
    assert images.pinned_base(dockerfile, recipe) == f"{images.base_image(dockerfile)}-{shell}"


@pytest.mark.parametrize("base", ["example/base", "example/base:1.0", "Example/base:x"])
def test_a_base_that_is_no_repository_and_release_is_refused_naming_the_file(tmp_path, base):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"ARG BASE_IMAGE={base}\nFROM ${{BASE_IMAGE}}\n")
    with pytest.raises(ToolError, match=rf"{re.escape(str(dockerfile))}: `ARG BASE_IMAGE="):
        images.pinned_base(dockerfile, REPO_ROOT / images.BASE_RECIPE)


def test_family_tag_needs_no_docker_and_follows_the_base_recipe(tmp_path, monkeypatch):
    # The tag bridge derives (lookup image_tag) comes from files alone.
    monkeypatch.setattr(images, "inspect", lambda ref: pytest.fail("docker asked"))
    family = images.FAMILIES[0]
    root = REPO_ROOT / "images"
    requirements = REPO_ROOT / "requirements-zuul.txt"
    recipe = tmp_path / "build-base-image.sh"
    recipe.write_bytes((REPO_ROOT / images.BASE_RECIPE).read_bytes())
    before = images.family_tag(family, root, requirements, recipe)
    assert before == images.family_tag(family, root, requirements, REPO_ROOT / images.BASE_RECIPE)
    recipe.write_bytes(recipe.read_bytes() + b"# another package\n")
    assert images.family_tag(family, root, requirements, recipe) != before


# -- families ----------------------------------------------------------------


def test_every_image_belongs_to_one_family_with_its_own_directory():
    assert sorted(images.IMAGES) == sorted(images.BUILD_ORDER)
    assert len(set(images.BUILD_ORDER)) == len(images.BUILD_ORDER)
    for family in images.FAMILIES:
        dockerfile = REPO_ROOT / "images" / family.name / "Dockerfile"
        targets = stages(dockerfile.read_text())
        for image in family.build_order:
            assert image in targets, (family.name, image)
        assert family.builder_target in targets


def test_etherpad_version_is_the_dockerfile_arg_default():
    dockerfile = REPO_ROOT / "images" / "etherpad" / "Dockerfile"
    pins = re.findall(r"^ARG ETHERPAD_VERSION=(\S+)$", dockerfile.read_text(), re.M)
    assert len(pins) == 1
    family = images.FAMILY_OF["etherpad"]
    assert images.family_version(family, dockerfile, REPO_ROOT / "nope.txt") == pins[0]


def test_zuul_version_still_comes_from_the_requirements():
    family = images.FAMILY_OF["zuul-web"]
    dockerfile = REPO_ROOT / "images" / "zuul" / "Dockerfile"
    expected = images.zuul_version(REPO_ROOT / "requirements-zuul.txt")
    assert images.family_version(family, dockerfile, REPO_ROOT / "requirements-zuul.txt") == (
        expected
    )


@pytest.mark.parametrize("line", ["", "ARG ETHERPAD_VERSION\n", "ARG ETHERPAD_VERSION=latest\n"])
def test_etherpad_without_an_exact_version_default_is_an_error(tmp_path, line):
    dockerfile = tmp_path / "Dockerfile"
    dockerfile.write_text(f"ARG BASE_IMAGE=example/base:1\n{line}FROM ${{BASE_IMAGE}}\n")
    with pytest.raises(ToolError, match="ETHERPAD_VERSION") as err:
        images.family_version(images.FAMILY_OF["etherpad"], dockerfile, tmp_path / "r.txt")
    assert err.value.code == Exit.USAGE


def stages(dockerfile_text: str) -> dict[str, list[str]]:
    """Stage name -> its instructions (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", dockerfile_text)
    result: dict[str, list[str]] = {}
    current = None
    for line in text.splitlines():
        line = line.strip()
        match = re.match(r"FROM\s+(\S+)\s+AS\s+(\S+)", line, re.IGNORECASE)
        if match:
            current = match.group(2)
            result[current] = [line]
        elif current and line and not line.startswith("#"):
            result[current].append(line)
    return result


def test_each_service_has_a_target_running_it_in_the_foreground():
    found = stages((REPO_ROOT / "images" / "zuul" / "Dockerfile").read_text())
    for service in images.SERVICES:
        cmds = [i for i in found[f"zuul-{service}"] if i.startswith("CMD")]
        assert cmds[-1] == f'CMD ["/opt/zuul/bin/zuul-{service}", "-f"]'


@pytest.mark.parametrize("family", images.FAMILIES, ids=lambda f: f.name)
def test_the_host_ca_bundle_stays_in_the_builder_stages(family):
    found = stages((REPO_ROOT / "images" / family.name / "Dockerfile").read_text())
    assert [n for n, body in found.items() if any("host-ca.crt" in i for i in body)] == ["builder"]
    # Service images descend from the base, never from a builder stage.
    parents = {name: body[0].split()[1] for name, body in found.items()}
    builders = {"builder", family.builder_target}
    for image in family.build_order:
        chain = chain_of(parents, image)
        assert not builders & set(chain), chain
        # Copied from a builder stage: only what was built, never the bundle.
        for stage in chain:
            for instruction in found[stage]:
                if instruction.startswith("COPY --from="):
                    assert "host-ca" not in instruction and "npm" not in instruction


def chain_of(parents: dict[str, str], name: str) -> list[str]:
    """The stage and the stages it is built FROM, up to the base image."""
    chain = []
    while name in parents:
        chain.append(name)
        name = parents[name]
    return chain


def test_etherpad_runs_as_its_own_user_with_a_healthcheck_and_the_start_script():
    found = stages((REPO_ROOT / "images" / "etherpad" / "Dockerfile").read_text())["etherpad"]
    assert [i for i in found if i.startswith("USER")] == ["USER etherpad"]
    assert any("--uid 10002" in i for i in found)
    assert found[-1] == 'ENTRYPOINT ["/usr/local/bin/etherpad-start"]'
    health = [i for i in found if i.startswith("HEALTHCHECK")]
    assert len(health) == 1 and "healthcheck.js" in health[0]
    assert "EXPOSE 9001" in found


def test_etherpad_start_script_comes_after_npm_install():
    """Changing etherpad-start or healthcheck.js must not re-run npm install."""
    found = stages((REPO_ROOT / "images" / "etherpad" / "Dockerfile").read_text())
    assert any("npm install" in i for i in found["builder"])
    final = found["etherpad"]
    copied = next(n for n, i in enumerate(final) if i.startswith("COPY --from=builder"))
    for small in ("etherpad-start", "healthcheck.js"):
        at = next(n for n, i in enumerate(final) if i.startswith("COPY") and small in i)
        assert at > copied, small


# -- tag derivation ----------------------------------------------------------


def test_tag_is_version_and_twelve_hex_digits(image_dir):
    assert re.fullmatch(r"1\.2\.3-[0-9a-f]{12}", tag(image_dir))


def test_tag_is_stable_for_unchanged_inputs(image_dir):
    first = tag(image_dir)
    (image_dir / "Dockerfile").touch()  # mtime is not an input
    assert tag(image_dir) == first


def test_tag_changes_when_a_file_changes(image_dir):
    first = tag(image_dir)
    (image_dir / "files" / "entry.sh").write_text("#!/bin/sh\nexit 0\n")
    assert tag(image_dir) != first


def test_tag_changes_when_a_file_is_added_or_renamed(image_dir):
    first = tag(image_dir)
    (image_dir / "files" / "entry.sh").rename(image_dir / "files" / "start.sh")
    renamed = tag(image_dir)
    (image_dir / "extra.conf").write_text("")
    assert len({first, renamed, tag(image_dir)}) == 3


def test_tag_changes_when_a_file_becomes_executable(image_dir):
    first = tag(image_dir)
    (image_dir / "files" / "entry.sh").chmod(0o755)
    assert tag(image_dir) != first


def test_tag_changes_with_the_zuul_pin_and_the_base_image(image_dir):
    tags = {tag(image_dir), tag(image_dir, version="1.2.4"), tag(image_dir, base="sha256:bbb")}
    assert len(tags) == 3


def test_tag_differs_between_families_of_equal_inputs(image_dir):
    assert tag(image_dir, name="zuul") != tag(image_dir, name="etherpad")


def test_zuul_tag_is_the_one_of_before_families(image_dir):
    """The Zuul digest keeps its old formula: adding families rebuilt nothing."""
    digest = hashlib.sha256(b"zuul==1.2.3\nbase=sha256:aaa\n")
    for rel in ("Dockerfile", "files/entry.sh"):
        content = hashlib.sha256((image_dir / rel).read_bytes()).hexdigest()
        digest.update(f"{rel}\0-\0{content}\n".encode())
    assert tag(image_dir) == f"1.2.3-{digest.hexdigest()[:12]}"


def test_image_names():
    assert images.image_ref("p", "zuul-web", "t") == "p/zuul-web:t"
    assert images.builder_image("p/q", "zuul", "t") == "p/q/zuul-builder:t"
    assert images.builder_image("p", "etherpad", "t") == "p/etherpad-builder:t"


# -- argument and environment errors -----------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["push"],  # --registry is required
        ["push", "--registry", "127.0.0.1:5000"],  # no scheme
        ["push", "--registry", "http://127.0.0.1:5000/v2/x"],  # not a base URL
        ["build", "--tag", "a:b"],
        ["build", "--tag", "-x"],
        ["list", "--prefix", "System-Config"],
        ["list", "--prefix", "a//b"],
    ],
)
def test_bad_arguments_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exit_:
        images.main(argv)
    assert exit_.value.code == Exit.USAGE
    assert "usage:" in capsys.readouterr().err


def test_registry_url_loses_its_trailing_slash():
    assert images.check_registry("http://127.0.0.1:5000/") == "http://127.0.0.1:5000"


def test_missing_ca_bundle_exits_2_naming_it(tmp_path, capsys):
    missing = tmp_path / "ca.crt"
    assert images.main(["build", "--ca-bundle", str(missing)]) == Exit.USAGE
    assert str(missing) in capsys.readouterr().err


def test_docker_missing_exits_3(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert images.main(["list"]) == Exit.UNAVAILABLE
    assert "docker: command not found" in capsys.readouterr().err


def test_docker_daemon_down_exits_3(tmp_path, monkeypatch, capsys):
    fake = tmp_path / "docker"
    fake.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert images.main(["list"]) == Exit.UNAVAILABLE
    assert "Cannot connect to the Docker daemon" in capsys.readouterr().err


def test_unreachable_registry_is_exit_4():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(ToolError) as err:
        images.check_registry_answers(f"http://127.0.0.1:{port}")
    assert err.value.code == Exit.UNAVAILABLE
    assert "unreachable" in str(err.value)


def test_missing_registry_ca_file_exits_2_naming_it(tmp_path, capsys):
    missing = tmp_path / "ca.pem"
    argv = ["push", "--registry", "https://127.0.0.1:5443", "--ca-file", str(missing)]
    assert images.main(argv) == Exit.USAGE
    assert f"{missing}: --ca-file not found" in capsys.readouterr().err


def test_build_takes_only_known_images(capsys):
    with pytest.raises(SystemExit) as exit_:
        images.main(["build", "--image", "etherpad-frob"])
    assert exit_.value.code == Exit.USAGE
    assert "invalid choice: 'etherpad-frob'" in capsys.readouterr().err


def test_push_takes_only_known_images(capsys):
    with pytest.raises(SystemExit) as exit_:
        images.main(["push", "--registry", "http://127.0.0.1:5000", "--image", "zuul-frob"])
    assert exit_.value.code == Exit.USAGE
    assert "invalid choice: 'zuul-frob'" in capsys.readouterr().err


# -- .dockerignore: files that are no build input -----------------------------


def test_files_named_in_dockerignore_do_not_change_the_tag(image_dir):
    (image_dir / ".dockerignore").write_text("# not inputs\nREADME.md\ndocs/\n")
    first = tag(image_dir)
    (image_dir / "README.md").write_text("figures\n")
    (image_dir / "docs").mkdir()
    (image_dir / "docs" / "notes.txt").write_text("x\n")
    assert tag(image_dir) == first
    (image_dir / "files" / "README.md").write_text("not top-level: an input\n")
    assert tag(image_dir) != first


def test_dockerignore_itself_and_globs(image_dir):
    first = tag(image_dir)
    (image_dir / ".dockerignore").write_text("*.sh\n")
    with_ignore = tag(image_dir)
    assert with_ignore != first
    (image_dir / "verify.sh").write_text("#!/bin/sh\n")
    assert tag(image_dir) == with_ignore
    assert [p.name for p in images.build_inputs(image_dir)] == [
        ".dockerignore",
        "Dockerfile",
        "entry.sh",
    ]


@pytest.mark.parametrize("line", ["!keep.txt", "**/*.md"])
def test_unsupported_dockerignore_patterns_are_refused(image_dir, line):
    (image_dir / ".dockerignore").write_text(f"README.md\n{line}\n")
    with pytest.raises(ToolError, match=r"\.dockerignore:2") as err:
        tag(image_dir)
    assert err.value.code == Exit.USAGE


def test_etherpad_readme_and_verify_script_are_no_build_inputs():
    inputs = {p.name for p in images.build_inputs(REPO_ROOT / "images" / "etherpad")}
    assert {"Dockerfile", "etherpad-start", "healthcheck.js"} <= inputs
    assert not {"README.md", "verify.sh"} & inputs


def test_a_build_thread_logs_to_its_file_and_other_threads_still_print(capsys):
    """molecule-all builds beside its scenarios: their PASSED lines stay on stdout."""
    build_log = io.StringIO()
    inside = threading.Event()
    main_printed = threading.Event()

    def build() -> None:
        with images.logging_to(build_log):
            inside.set()
            main_printed.wait()
            images.log("  built   an image")

    worker = threading.Thread(target=build)
    worker.start()
    inside.wait()
    print("molecule sshd: PASSED")
    main_printed.set()
    worker.join()
    images.log("after the build")
    assert build_log.getvalue() == "  built   an image\n"
    assert capsys.readouterr().out == "molecule sshd: PASSED\nafter the build\n"


def fake_builds(monkeypatch, tmp_path, fail=()):
    """cmd_build with docker replaced: no image exists, builds of `fail` families fail.

    Returns the calls, each (thread name, image), and the parsed args.
    """
    calls = []
    base = {"Id": "sha256:base"}
    monkeypatch.setattr(images.docker_cli, "ensure_daemon", lambda: None)
    monkeypatch.setattr(images, "inspect", lambda ref: base if "debian-systemd" in ref else None)
    both_started = threading.Barrier(2, timeout=30)

    def build_one(p, target, image, context, log_dir, no_cache):
        calls.append((threading.current_thread().name, image))
        if len(calls) <= 2:
            both_started.wait()  # each family's first build waits for the other's
        if p.family.name in fail:
            raise ToolError(f"building {image} failed", Exit.FAILED)
        return 1.0

    monkeypatch.setattr(images, "build_one", build_one)
    ca = tmp_path / "ca.crt"
    ca.write_text("ca\n")
    args = images.parser().parse_args(["build", "--ca-bundle", str(ca)])
    return calls, args


def test_families_build_side_by_side_and_log_to_the_callers_stream(monkeypatch, tmp_path):
    calls, args = fake_builds(monkeypatch, tmp_path)
    out = io.StringIO()
    with images.logging_to(out):
        assert args.func(args) == Exit.OK
    # Both first builds ran at once (the barrier would time out otherwise),
    # each family in one thread, in its own build order.
    threads = {name for name, _ in calls}
    assert len(threads) == 2
    names = [image.split("/")[-1].split(":")[0] for _, image in calls]
    for family in images.FAMILIES:
        in_order = [n for n in names if n in family.build_order]
        assert in_order == list(family.build_order)
    text = out.getvalue()
    assert "built 8 images" in text
    assert "zuul " in text and "etherpad " in text


def test_a_failed_family_fails_the_build_after_the_other_ends(monkeypatch, tmp_path, capsys):
    calls, args = fake_builds(monkeypatch, tmp_path, fail=("etherpad",))
    assert images.main(["build", "--ca-bundle", str(args.ca_bundle)]) == Exit.FAILED
    assert "building system-config/etherpad:" in capsys.readouterr().err
    # The Zuul family still built all its images and its builder stage.
    assert sum("/zuul-" in img or "/zookeeper:" in img for _, img in calls) == 6


def test_no_two_stages_on_the_base_image_begin_alike():
    """The legacy builder picks its cache by (parent, instruction): two stages
    beginning alike on the base leave two candidates once both are built
    (families build side by side), and later builds take the wrong one."""
    first: dict[str, str] = {}
    for family in images.FAMILIES:
        dockerfile = REPO_ROOT / "images" / family.name / "Dockerfile"
        lines = [
            line.strip()
            for line in dockerfile.read_text().splitlines()
            if line.strip() and not line.lstrip().startswith("#")
        ]
        for index, line in enumerate(lines):
            if re.match(r"FROM \$\{BASE_IMAGE\}\s", line):
                stage = f"{dockerfile.relative_to(REPO_ROOT)}: {line}"
                begins = lines[index + 1]
                assert begins not in first, f"{stage} begins like {first.get(begins)}: {begins}"
                first[begins] = stage

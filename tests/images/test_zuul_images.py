"""Our images (Zuul's and Etherpad's), end to end: built by the tool, pushed
to a real registry, pulled back by dockerd and run. (Etherpad against a
real database: images/etherpad/verify.sh.)

Slow: a cold build takes about 6 minutes for Zuul's and 2 for Etherpad's,
the push about 2. The images are
built under a prefix of their own (sc-images-test/...), so this test never
removes the images `python -m sctools.images build` makes: it makes those
first (a no-op when they exist), which the molecule scenarios and the local
fleet use too, and docker's build cache then makes its own build take
seconds. Everything the test
creates (images it built, pulled tags, containers) is removed by exact name
at the end; set SC_IMAGES_TEST_KEEP=1 to keep the built images.

Run: .venv/bin/python -m pytest -v tests/images
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from sctools import REPO_ROOT, images, registry

PREFIX = "sc-images-test"
SERVICES = images.SERVICES
ZUUL_USER_UID = "10001"
ETHERPAD_USER_UID = "10002"


def docker_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return subprocess.run(["docker", "version"], capture_output=True).returncode == 0


pytestmark = [
    pytest.mark.skipif(not docker_answers(), reason="no docker (tools/prepare-host.sh)"),
    pytest.mark.skipif(
        shutil.which("docker-registry") is None,
        reason="tools/prepare-host.sh installs docker-registry",
    ),
]


def tool(*args: str, timeout: float = 1800, prefix: str = PREFIX) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        filter(None, [str(REPO_ROOT / "tools"), env.get("PYTHONPATH")])
    )
    return subprocess.run(
        [sys.executable, "-m", "sctools.images", *args, "--prefix", prefix],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO_ROOT,
    )


def docker(*args: str, check: bool = True, timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, f"docker {' '.join(args)}: {proc.stderr}"
    return proc


def image_id(ref: str) -> str:
    return docker("image", "inspect", "--format", "{{.Id}}", ref).stdout.strip()


@pytest.fixture(scope="module")
def built():
    """Build with the tool; yields the `list --json` report; removes what it built."""
    listing = tool("list", "--json")
    if listing.returncode == 3:
        pytest.skip(listing.stderr.strip())
    assert listing.returncode == 0, listing.stderr
    before = json.loads(listing.stdout)
    made = [row["image"] for row in before["images"] if not row["present"]]
    shared = tool("build", prefix=images.DEFAULT_PREFIX)
    assert shared.returncode == 0, shared.stdout + shared.stderr
    try:
        start = time.monotonic()
        proc = tool("build")
        print(proc.stdout, f"build took {time.monotonic() - start:.1f} s", sep="\n")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        after = json.loads(tool("list", "--json").stdout)
        assert after["families"] == before["families"]
        yield after
    finally:
        if not os.environ.get("SC_IMAGES_TEST_KEEP"):
            for image in made:
                docker("rmi", image, check=False)


@pytest.fixture(scope="module")
def registry_url(tmp_path_factory):
    """The buildset registry: a real docker-registry on loopback."""
    with registry.local_registry(tmp_path_factory.mktemp("registry")) as url:
        yield url


@pytest.fixture(scope="module")
def pushed(built, registry_url):
    start = time.monotonic()
    proc = tool("push", "--registry", registry_url, "--also-tag", "latest")
    print(proc.stdout, f"push took {time.monotonic() - start:.1f} s", sep="\n")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@pytest.fixture(scope="module")
def pulled(built, registry_url, pushed):
    """service -> image reference pulled from the registry; untagged afterwards."""
    host = registry_url.removeprefix("http://")
    zuul_tag = built["families"]["zuul"]["tag"]
    refs = {s: f"{host}/{PREFIX}/zuul-{s}:{zuul_tag}" for s in SERVICES}
    refs["zookeeper"] = f"{host}/{PREFIX}/zookeeper:{zuul_tag}"
    refs["etherpad"] = f"{host}/{PREFIX}/etherpad:{built['families']['etherpad']['tag']}"
    extra = [f"{host}/{PREFIX}/zuul-scheduler:latest"]
    try:
        for ref in [*refs.values(), *extra]:
            docker("pull", ref)
        yield refs
    finally:
        for ref in [*refs.values(), *extra]:
            docker("rmi", ref, check=False)


def run(image: str, *command: str, name_suffix: str) -> subprocess.CompletedProcess:
    name = f"sc-images-test-{name_suffix}-{os.getpid()}"
    try:
        return docker("run", "--rm", "--name", name, image, *command, check=False, timeout=300)
    finally:
        docker("rm", "--force", name, check=False)


def test_push_reports_every_image(pushed, built):
    for row in built["images"]:
        if row["name"] in images.IMAGES:
            assert f"pushed  {row['image']}" in pushed


def test_pulled_images_are_the_built_ones(pulled, built):
    local = {row["name"]: row["image"] for row in built["images"]}
    for name, ref in pulled.items():
        assert image_id(ref) == image_id(local[name if name in images.IMAGES else f"zuul-{name}"])


def test_zookeeper_image_runs_zookeeper_as_its_own_user(pulled):
    proc = run(
        pulled["zookeeper"],
        "sh",
        "-c",
        'id -u; java -cp "$ZOOKEEPER_CLASSPATH" org.apache.zookeeper.version.VersionInfoMain',
        name_suffix="zookeeper",
    )
    assert proc.returncode == 0, proc.stderr
    uid, version = proc.stdout.splitlines()[:2]
    assert uid == "10002"
    assert version.startswith("Apache ZooKeeper, version 3.")


def test_latest_tag_was_pushed_too(pulled, built):
    latest = pulled["scheduler"].rsplit(":", 1)[0] + ":latest"
    assert image_id(latest) == image_id(pulled["scheduler"])


@pytest.mark.parametrize("service", SERVICES)
def test_each_image_runs_its_zuul_service(pulled, built, service):
    proc = run(pulled[service], f"zuul-{service}", "--version", name_suffix=service)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"Zuul version: {built['families']['zuul']['version']}"
    proc = run(pulled[service], f"zuul-{service}", "--help", name_suffix=service)
    assert proc.returncode == 0, proc.stderr
    assert f"usage: zuul-{service}" in proc.stdout


@pytest.mark.parametrize("service", SERVICES)
def test_default_command_runs_the_service_in_the_foreground(pulled, service):
    config = json.loads(
        docker("image", "inspect", "--format", "{{json .Config}}", pulled[service]).stdout
    )
    assert config["Cmd"] == [f"/opt/zuul/bin/zuul-{service}", "-f"]
    assert config["StopSignal"] == "SIGTERM"


@pytest.mark.parametrize("service", ["scheduler", "web", "merger"])
def test_services_run_as_the_zuul_user(pulled, service):
    proc = run(pulled[service], "id", "-u", name_suffix=service)
    assert proc.stdout.strip() == ZUUL_USER_UID


def test_executor_starts_as_root_to_drop_to_zuul(pulled):
    proc = run(pulled["executor"], "sh", "-c", "id -u; id -u zuul", name_suffix="executor")
    assert proc.stdout.split() == ["0", ZUUL_USER_UID]


def test_executor_has_bubblewrap(pulled):
    proc = run(pulled["executor"], "bwrap", "--version", name_suffix="executor")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("bubblewrap ")


def test_executor_has_every_ansible_zuul_supports(pulled):
    proc = run(pulled["executor"], "zuul-manage-ansible", "--validate", name_suffix="executor")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_no_build_time_ca_or_pip_settings_in_service_images(pulled, service):
    proc = run(
        pulled[service],
        "sh",
        "-c",
        "test ! -e /usr/local/share/zuul-build && env | grep -c '^PIP_' || true",
        name_suffix=service,
    )
    assert proc.stdout.strip() == "0", proc.stdout + proc.stderr


def test_etherpad_refuses_to_start_without_its_files(pulled):
    proc = run(pulled["etherpad"], name_suffix="etherpad")
    assert proc.returncode == 1
    assert "/etc/etherpad/settings.json is missing" in proc.stderr


def test_etherpad_user_node_and_no_build_leftovers(pulled, built):
    # As root, to see into /root; the image's user is checked below.
    script = (
        "id -u etherpad; node --version; "
        "for p in /usr/local/share/etherpad-build /root/.npm /var/lib/etherpad/.npm "
        "/tmp/npm-cache; do test ! -e $p || echo left:$p; done; "
        "command -v npm || echo no-npm; env | grep -ci npm_config; "
        "node -p 'require(\"/opt/etherpad/src/package.json\").version'"
    )
    proc = docker(
        "run", "--rm", "--user", "0", "--entrypoint", "sh",
        "--name", f"sc-images-test-etherpad-{os.getpid()}", pulled["etherpad"], "-c", script,
    )  # fmt: skip
    assert proc.stdout.split() == [
        ETHERPAD_USER_UID,
        proc.stdout.split()[1],
        "no-npm",
        "0",
        built["families"]["etherpad"]["version"],
    ]
    assert proc.stdout.split()[1].startswith("v20.")


def test_etherpad_has_a_healthcheck(pulled):
    config = json.loads(
        docker("image", "inspect", "--format", "{{json .Config}}", pulled["etherpad"]).stdout
    )
    assert config["Healthcheck"]["Test"][-1] == "/usr/local/lib/etherpad/healthcheck.js"
    assert config["User"] == "etherpad"
    assert "9001/tcp" in config["ExposedPorts"]


def test_a_second_build_rebuilds_nothing(built):
    start = time.monotonic()
    proc = tool("build")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("(not rebuilt)") == len(images.IMAGES)
    assert "  build " not in proc.stdout
    print(f"second build took {time.monotonic() - start:.1f} s")

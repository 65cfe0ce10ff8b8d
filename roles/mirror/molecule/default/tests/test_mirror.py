"""Behaviour of the mirror role against loopback stand-ins.

prepare.yml runs, on every instance (tests/standins/): pebble for Let's
Encrypt (its DNS resolves every name to 127.0.0.1, so validation reaches the
mirror's own port 80); Docker Hub as docker-registry seeded with
library/probe:1, a front that answers blob GETs with a 307 to a "CDN", and
the CDN; PyPI as a simple index linking a wheel by absolute URL on a files
host. converge.yml points the mirror at them (quay.io at the same Docker
Hub stand-in), with manifests stale after 5 s and a 2 MiB cache limit.

Every HTTPS request verifies the mirror's certificate against pebble's root.
"""

import contextlib
import email.utils
import json
import os
import shlex
import time
import urllib.parse

import pytest
import yaml
from scenario import SECURITY_HEADERS, headers_of, instance_names

from sctools import REPO_ROOT

testinfra_hosts = instance_names()

NAMES = ["mirror01.regiona.test", "mirror.regiona.test"]
HOST = NAMES[0]
ROOT = "/tmp/mirror-test-pebble-root.pem"
SCHEMA2 = "application/vnd.docker.distribution.manifest.v2+json"
OCI = "application/vnd.oci.image.manifest.v1+json"
# The site-wide registry ports, from their one home (converge.yml reads it too).
SITE = yaml.safe_load((REPO_ROOT / "group_vars" / "all.yaml").read_text())
# registry: (plain-HTTP port, TLS port, CDN path on the mirror)
REGISTRIES = {
    name: (SITE[f"mirror_{name}_http_port"], SITE[f"mirror_{name}_https_port"], cdn)
    for name, cdn in (("dockerhub", "cloudflare"), ("quay", "cdn01"))
}
ENDPOINTS = [(registry, scheme) for registry in REGISTRIES for scheme in ("http", "https")]
UPSTREAM_UNITS = ["docker-registry", "standin-registry-front", "standin-registry-cdn"]
UPSTREAM_PORTS = [5000, 5001, 5002]
CACHE = "/var/cache/apache2/mirror"
CACHE_LIMIT = 2 * 1024 * 1024
LOG = "/var/log/apache2/mirror-access.log"
STATIC = "/var/www/mirror"
CHALLENGES = "/var/lib/acme-challenge/.well-known/acme-challenge"
VENV = "/root/mirror-test-venv"  # /tmp is noexec in the instances
MANIFEST_EXPIRE = 5  # converge's mirror_registry_manifest_expire
# The Docker Hub stand-in's front records each request here and holds
# manifest requests while FRONT/hold exists (tests/standins/dockerhub.yml).
FRONT = "/run/standin-registry-front"


def base(registry, scheme="https"):
    http_port, https_port, _ = REGISTRIES[registry]
    return f"{scheme}://{HOST}:{https_port if scheme == 'https' else http_port}"


def curl(host, *args):
    """curl on the instance, trusting pebble's root."""
    return host.run(f"curl -sS --cacert {ROOT} " + " ".join(shlex.quote(a) for a in args))


def sha256_of(host, *args):
    """sha256 (hex) of the body curl fetches with these arguments."""
    out = "/tmp/mirror-test-body"
    cmd = curl(host, "-f", "-o", out, *args)
    assert cmd.rc == 0, cmd.stderr
    return host.check_output(f"sha256sum {out}").split()[0]


def status_and_location(host, url):
    cmd = curl(host, "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", url)
    assert cmd.rc == 0, cmd.stderr
    code, _, location = cmd.stdout.partition(" ")
    return int(code), location


def x_cache(host, *args):
    cmd = curl(host, "-f", "-o", "/dev/null", "-D", "-", *args)
    assert cmd.rc == 0, cmd.stderr
    for line in cmd.stdout.splitlines():
        if line.lower().startswith("x-cache:"):
            return line.split(":", 1)[1].split()[0]
    return None


def cache_bytes(host):
    """What htcacheclean counts: the sizes of the cache's files."""
    out = host.check_output(f"find {CACHE} -type f -printf '%s\\n'")
    return sum(int(n) for n in out.split())


def wait_until_stale(host, headers: str) -> None:
    """Wait until the instance's clock is past the expiry of the copy stored
    with these response headers (its Date plus the manifests' expire time):
    a condition on the clock, whatever the load."""
    dates = [line[5:] for line in headers.splitlines() if line.lower().startswith("date:")]
    stored = email.utils.parsedate_to_datetime(dates[0].strip()).timestamp()
    wait_for(host, f"[ $(date +%s) -ge {int(stored) + MANIFEST_EXPIRE + 1} ]")


def wait_for(host, condition: str) -> None:
    """Poll a shell condition on the instance until it holds (at most 2 min)."""
    host.check_output(f"timeout 120 sh -c {shlex.quote(f'until {condition}; do sleep 0.1; done')}")


def upstream_requests(host, path: str) -> int:
    """How many requests for path the Docker Hub stand-in's front has seen."""
    return int(host.run(f"grep -c ' {path}$' {FRONT}/requests").stdout.strip() or 0)


@contextlib.contextmanager
def docker_hub_down(host):
    """Stop the registry, its front and the CDN; start them again after."""
    host.check_output("systemctl stop " + " ".join(UPSTREAM_UNITS))
    try:
        yield
    finally:
        host.check_output("systemctl start " + " ".join(UPSTREAM_UNITS))
        for port in UPSTREAM_PORTS:
            host.check_output(
                f"timeout 20 bash -c 'until echo > /dev/tcp/127.0.0.1/{port}; "
                "do sleep 0.2; done' 2>/dev/null"
            )


@pytest.fixture(scope="module", autouse=True)
def pebble_root(host):
    """pebble's current root, from its management port."""
    host.check_output(
        f"curl -sf --cacert /etc/pebble/tls/ca.pem -o {ROOT} https://localhost:15000/roots/0"
    )
    return ROOT


@pytest.fixture(scope="module")
def image(host):
    """Digests of the seeded library/probe:1 (registry_seed.py's output)."""
    seeded = host.file("/var/lib/standins/registry/library_probe_1.json").content_string
    return json.loads(seeded)


@pytest.fixture(scope="module")
def wheel(host):
    return json.loads(host.file("/var/lib/standins/pypi.json").content_string)


@pytest.fixture(scope="module")
def pip_install(host):
    """pip installs the stand-in's wheel through the mirror, in a fresh venv.

    Returns the pip command's result and the access log lines it caused.
    """
    host.check_output(f"rm -rf {VENV} && python3 -m venv {VENV}")
    # Empty the cache: pip's requests must go through to the stand-ins.
    host.check_output(f"find {CACHE} -mindepth 1 -delete")
    before = int(host.check_output(f"wc -l < {LOG}"))
    cmd = host.run(
        f"{VENV}/bin/pip install --no-cache-dir --disable-pip-version-check "
        f"--index-url https://{NAMES[1]}/pypi/simple/ --cert {ROOT} scprobe"
    )
    log = host.check_output(f"tail -n +{before + 1} {LOG}").splitlines()
    return cmd, log


def blob_url(image, registry, scheme="https"):
    return f"{base(registry, scheme)}/v2/library/probe/blobs/{image['layers'][0]['digest']}"


def manifest_url(registry, scheme="https"):
    return f"{base(registry, scheme)}/v2/library/probe/manifests/1"


@pytest.mark.parametrize("name", NAMES)
def test_https_certificate_verifies_for_each_name(host, name):
    cmd = curl(host, "-f", "-o", "/dev/null", f"https://{name}/")
    assert cmd.rc == 0, cmd.stderr


def test_http_serves_static_content(host):
    token = os.urandom(8).hex()
    host.check_output(f"echo {token} > {STATIC}/mirror-test.txt")
    assert host.check_output(f"curl -sf http://{HOST}/mirror-test.txt") == token


def test_http_serves_acme_challenges_from_the_webroot(host):
    token = os.urandom(8).hex()
    host.check_output(f"echo {token} > {CHALLENGES}/mirror-test-{token}")
    url = f"http://{NAMES[1]}/.well-known/acme-challenge/mirror-test-{token}"
    assert host.check_output(f"curl -sf {url}") == token


@pytest.mark.parametrize("registry,scheme", ENDPOINTS)
def test_registry_port_serves_the_manifest(host, image, registry, scheme):
    sha = sha256_of(host, "-H", f"Accept: {SCHEMA2}", manifest_url(registry, scheme))
    assert f"sha256:{sha}" == image["manifest_digest"]


@pytest.mark.parametrize("registry,scheme", ENDPOINTS)
def test_blob_redirect_points_at_the_mirror(host, image, registry, scheme):
    code, location = status_and_location(host, blob_url(image, registry, scheme))
    path = REGISTRIES[registry][2]
    assert code == 307
    assert location.startswith(f"{base(registry, scheme)}/{path}/registry-v2/"), location


@pytest.mark.parametrize("registry,scheme", ENDPOINTS)
def test_following_the_blob_redirect_gives_the_layer(host, image, registry, scheme):
    sha = sha256_of(host, "-L", blob_url(image, registry, scheme))
    assert f"sha256:{sha}" == image["layers"][0]["digest"]


def test_manifest_cache_is_kept_per_accept_header(host):
    url = manifest_url("dockerhub")
    # The scenario's manifests go stale after MANIFEST_EXPIRE s: only a pair
    # of requests that both ended within that window is judged (a loaded
    # machine may need more than one try; no clock decides the result).
    # Apache ages an entry from the upstream's Date header, which has whole
    # seconds, and counts whole seconds: an entry can look up to 2 s older
    # than it is, so the window is 2 s shorter than the expiry.
    window = MANIFEST_EXPIRE - 2
    for _ in range(10):
        start = time.monotonic()
        x_cache(host, "-H", f"Accept: {SCHEMA2}", url)
        second = x_cache(host, "-H", f"Accept: {SCHEMA2}", url)
        if time.monotonic() - start < window:
            break
    else:
        pytest.fail(f"no two requests within {window} s in ten tries")
    assert second in ("HIT", "REVALIDATE")
    assert x_cache(host, "-H", f"Accept: {OCI}-{os.urandom(4).hex()}", url) == "MISS"


@pytest.mark.parametrize("url", ["manifest", "cdn blob"])
def test_response_to_a_client_with_a_token_is_cached(host, image, url):
    # docker sends its (anonymous) Docker Hub token with every request.
    token = f"Authorization: Bearer test-{os.urandom(8).hex()}"
    if url == "manifest":
        # An Accept of its own: a cache entry of its own.
        args = ["-H", f"Accept: {SCHEMA2}, {OCI}-{os.urandom(4).hex()}", manifest_url("quay")]
    else:
        _, location = status_and_location(host, blob_url(image, "quay"))
        host.check_output(f"find {CACHE} -mindepth 1 -delete")
        args = [location]
    assert x_cache(host, "-H", token, *args) == "MISS"
    assert x_cache(host, "-H", token, *args) in ("HIT", "REVALIDATE")


def test_tag_list_is_not_cached(host):
    url = f"{base('dockerhub')}/v2/library/probe/tags/list"
    x_cache(host, url)
    assert x_cache(host, url) is None


def test_cdn_blob_cache_ignores_the_signed_query_string(host, image):
    _, location = status_and_location(host, blob_url(image, "dockerhub"))
    curl(host, "-f", "-o", "/dev/null", location)
    other = location.split("?", 1)[0] + f"?verify={os.urandom(8).hex()}"
    assert x_cache(host, other) == "HIT"


def test_stale_manifest_is_served_while_docker_hub_is_down(host, image):
    url = manifest_url("dockerhub")
    stored = curl(host, "-f", "-o", "/dev/null", "-D", "-", "-H", f"Accept: {SCHEMA2}", url)
    wait_until_stale(host, stored.stdout)
    with docker_hub_down(host):
        sha = sha256_of(host, "-H", f"Accept: {SCHEMA2}", url)
        headers = curl(host, "-f", "-o", "/dev/null", "-D", "-", "-H", f"Accept: {SCHEMA2}", url)
    assert f"sha256:{sha}" == image["manifest_digest"]
    # mod_cache's mark of a stale copy served because the upstream failed
    assert "warning: 111" in headers.stdout.lower(), headers.stdout


def test_ten_requests_at_once_for_a_stale_manifest_go_upstream_once(host, image):
    # CacheLock: while one request refreshes a stale copy, the others get
    # the stale copy; without it all ten go to Docker Hub at once.
    url = manifest_url("dockerhub")
    path = urllib.parse.urlsplit(url).path
    accept = f"Accept: {SCHEMA2}, {OCI}-{os.urandom(4).hex()}"  # a cache entry of its own
    stored = curl(host, "-f", "-o", "/dev/null", "-D", "-", "-H", accept, url)
    wait_until_stale(host, stored.stdout)
    before = upstream_requests(host, path)
    answered = f"grep -c '\"GET {path} HTTP/1.1\" 200 ' {LOG}"
    answered_before = int(host.check_output(answered))
    herd = " ".join(["-o /dev/null " + shlex.quote(url)] * 10)
    host.check_output(f"rm -f /root/herd.out && touch {FRONT}/hold")
    try:
        # One curl, ten transfers started at once; a line per finished one.
        host.check_output(
            "systemd-run --unit sc-mirror-herd --collect sh -c "
            + shlex.quote(
                f"curl -sS --cacert {ROOT} -Z --parallel-immediate --parallel-max 10 "
                f"-H {shlex.quote(accept)} -w '%{{http_code}}\\n' {herd} "
                "> /root/herd.out 2> /root/herd.err"
            )
        )
        # Upstream held: with the lock one request waits there and nine are
        # answered (the access log says so); without it a second one
        # reaches upstream.
        wait_for(
            host,
            f"[ $(grep -c ' {path}$' {FRONT}/requests) -ge {before + 2} ] "
            f"|| [ $({answered}) -ge {answered_before + 9} ]",
        )
    finally:
        host.run(f"rm -f {FRONT}/hold")
    wait_for(host, "! systemctl is-active -q sc-mirror-herd")
    assert host.file("/root/herd.out").content_string.split() == ["200"] * 10
    # One refresh: mod_cache asks with a conditional GET, then fetches the
    # manifest (the stand-in answers 304, then 200). Ten would be 10 or more.
    assert upstream_requests(host, path) - before <= 2


def test_cdn_blob_is_served_while_docker_hub_is_down(host, image):
    _, location = status_and_location(host, blob_url(image, "dockerhub"))
    curl(host, "-f", "-o", "/dev/null", location)
    with docker_hub_down(host):
        sha = sha256_of(host, location)
    assert f"sha256:{sha}" == image["layers"][0]["digest"]


def test_pypi_index_links_files_through_the_mirror(host, wheel):
    # A query string of its own: a fresh page from upstream, not the cache's.
    page = curl(host, "-f", f"https://{HOST}/pypi/simple/scprobe/?{os.urandom(4).hex()}")
    assert page.rc == 0, page.stderr
    assert f'href="/pypifiles/{wheel["path"]}#sha256={wheel["sha256"]}"' in page.stdout
    assert "127.0.0.1:8083" not in page.stdout


def test_pip_installs_the_wheel_through_the_mirror(host, pip_install):
    cmd, _ = pip_install
    assert cmd.rc == 0, cmd.stdout + cmd.stderr
    probe = host.check_output(f"{VENV}/bin/python -c 'import scprobe; print(scprobe.PROBE)'")
    assert probe == "scprobe 1.0"


def test_pip_fetched_the_wheel_from_pypifiles(host, pip_install, wheel):
    _, log = pip_install
    fetched = [line for line in log if f'"GET /pypifiles/{wheel["path"]} HTTP/1.1" 200' in line]
    assert fetched, log


@pytest.mark.parametrize(
    "url",
    [f"{base('dockerhub')}/v2/library/probe/blobs/uploads/", f"https://{HOST}/pypi/simple/"],
)
def test_mirror_refuses_writes(host, url):
    cmd = curl(host, "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", url)
    assert cmd.stdout == "403"


def test_htcacheclean_timer_is_active(host):
    timer = host.service("mirror-htcacheclean.timer")
    assert timer.is_enabled
    assert timer.is_running


def test_htcacheclean_trims_the_cache_to_its_limit(host, image):
    host.check_output(f"curl -sfL --cacert {ROOT} -o /dev/null {blob_url(image, 'dockerhub')}")
    assert cache_bytes(host) > CACHE_LIMIT
    host.check_output("systemctl start mirror-htcacheclean.service")
    result = host.check_output("systemctl show -P Result mirror-htcacheclean.service")
    assert result == "success"
    assert cache_bytes(host) <= CACHE_LIMIT


CACHE_CHECK = "/usr/local/sbin/mirror-cache-check"
CACHE_METRICS = "/var/lib/prometheus/node-exporter/mirror_cache.prom"


def cache_metrics(host) -> dict[str, int]:
    text = host.file(CACHE_METRICS).content_string
    return {k: int(v) for k, v in (line.split() for line in text.splitlines() if line[:1] != "#")}


def test_auto_cache_limit_is_a_share_of_its_file_system(host):
    size = int(host.check_output(f"df -B1 --output=size {CACHE} | tail -n 1"))
    assert int(host.check_output(f"{CACHE_CHECK} limit --limit auto --percent 50")) == size // 2
    assert int(host.check_output(f"{CACHE_CHECK} limit")) == CACHE_LIMIT  # converge's 2M


def test_trim_reports_the_cache_in_the_textfile(host):
    host.check_output("systemctl start mirror-htcacheclean.service")
    metrics = cache_metrics(host)
    assert metrics["mirror_cache_limit_bytes"] == CACHE_LIMIT
    assert metrics["mirror_cache_bytes"] == cache_bytes(host)
    assert metrics["mirror_cache_filesystem_avail_bytes"] > 0
    assert metrics["mirror_cache_full"] == 0


def test_a_cache_over_its_limit_fails_the_trim_and_the_converge(host):
    host.check_output("systemctl start mirror-htcacheclean.service")  # from a trimmed cache
    stuck = f"{CACHE}/zz-test-stuck"  # not a cache entry: htcacheclean leaves it
    host.check_output(f"head -c {CACHE_LIMIT * 2} /dev/zero > {stuck}")
    try:
        check = host.run(f"{CACHE_CHECK} report")
        assert check.rc == 1
        assert "nearly full" in check.stderr and "of its limit" in check.stderr
        assert cache_metrics(host)["mirror_cache_full"] == 1
        assert host.run("systemctl start mirror-htcacheclean.service").rc != 0
        assert host.service("mirror-htcacheclean.service").is_running is False
        assert "failed" in host.run("systemctl is-failed mirror-htcacheclean.service").stdout
    finally:
        host.run(f"rm -f {stuck}")
    assert host.run(f"{CACHE_CHECK} report").rc == 0
    assert cache_metrics(host)["mirror_cache_full"] == 0


def test_debian_htcacheclean_daemon_is_masked_and_stopped(host):
    # systemctl itself: testinfra's is_enabled falls back to the SysV links
    # of Debian's init script.
    unit = "apache-htcacheclean.service"
    assert host.run(f"systemctl is-enabled {unit}").stdout.strip() == "masked"
    assert host.run(f"systemctl is-active {unit}").stdout.strip() == "inactive"


def test_config_checker_rejects_a_broken_site(host):
    host.check_output("echo 'Listen 80' > /tmp/mirror-test-broken.conf")
    checker = "/usr/local/sbin/apache-configtest"
    target = "/etc/apache2/sites-available/mirror-http.conf"
    assert host.run(f"{checker} {target} {target}").rc == 0
    assert host.run(f"{checker} /tmp/mirror-test-broken.conf {target}").rc == 1


# The apache role's security headers, on the main site (static) and a
# registry port (proxied: the stand-in front sends a Server header of its own).
TLS_URLS = {"main site": f"https://{HOST}/", "registry": manifest_url("dockerhub")}


def response_headers(host, *args) -> list[tuple[str, str]]:
    """The (lower-case name, value) headers of a GET, body dropped."""
    return headers_of(
        curl(host, "-f", "-o", "/dev/null", "-D", "-", "-H", f"Accept: {SCHEMA2}", *args)
    )


@pytest.mark.parametrize("url", TLS_URLS.values(), ids=TLS_URLS.keys())
def test_tls_responses_carry_hsts_and_the_security_headers_once(host, url):
    headers = response_headers(host, url)
    for name, value in SECURITY_HEADERS.items():
        assert [v for n, v in headers if n == name] == [value], headers


def test_plain_http_gets_no_hsts(host):
    headers = dict(response_headers(host, f"http://{HOST}/"))
    assert "strict-transport-security" not in headers
    assert headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("registry", REGISTRIES)
def test_nothing_is_compressed_over_tls(host, registry):
    # Nor by upstream: it gets no Accept-Encoding.
    gzip = ["-H", "Accept-Encoding: gzip, deflate, br"]
    headers = dict(response_headers(host, *gzip, manifest_url(registry)))
    assert "content-encoding" not in headers, headers


@pytest.mark.parametrize("url", TLS_URLS.values(), ids=TLS_URLS.keys())
def test_tls12_takes_forward_secret_aead_ciphers_only(host, url):
    # What testssl.sh flags (CBC: obsolete, LUCKY13; static RSA: no forward
    # secrecy) is refused; a client of Mozilla's intermediate list connects.
    tls12 = ["-o", "/dev/null", "--tlsv1.2", "--tls-max", "1.2", "--ciphers"]
    for weak in ("ECDHE-RSA-AES128-SHA256:ECDHE-ECDSA-AES128-SHA256", "AES128-GCM-SHA256"):
        refused = curl(host, *tls12, weak, url)
        assert refused.rc == 35, (weak, refused.rc, refused.stderr)  # handshake failed
    aead = "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256"
    accepted = curl(host, "-f", *tls12, aead, url)
    assert accepted.rc == 0, accepted.stderr


@pytest.mark.parametrize(
    "url", [*TLS_URLS.values(), f"http://{HOST}/", f"{base('quay', 'http')}/v2/"]
)
def test_server_header_is_just_apache(host, url):
    cmd = curl(host, "-o", "/dev/null", "-D", "-", url)
    servers = [line.split(":", 1)[1].strip() for line in cmd.stdout.splitlines()
               if line.lower().startswith("server:")]  # fmt: skip
    assert servers == ["Apache"], cmd.stdout


def test_apache_runs_in_its_systemd_sandbox(host):
    show = host.check_output(
        "systemctl show -p ActiveState -p ProtectSystem -p ProtectHome -p NoNewPrivileges "
        "-p PrivateDevices apache2.service"
    )
    assert dict(line.split("=", 1) for line in show.splitlines()) == {
        "ActiveState": "active",
        "ProtectSystem": "full",
        "ProtectHome": "yes",
        "NoNewPrivileges": "yes",
        "PrivateDevices": "yes",
    }
    # What the kernel says of the running main process: no new privileges,
    # /etc read-only in its mount namespace.
    pid = host.check_output("systemctl show -P MainPID apache2.service")
    assert "NoNewPrivs:\t1" in host.file(f"/proc/{pid}/status").content_string
    options = host.check_output(f"nsenter -t {pid} -m findmnt -n -o OPTIONS /etc")
    assert options.split(",")[0] == "ro", options


def test_systemd_analyze_rates_apache_ok(host):
    out = host.check_output("systemd-analyze security --no-pager apache2.service | tail -n 1")
    exposure = float(out.split(":")[1].split()[0])
    assert exposure < 3.0, out

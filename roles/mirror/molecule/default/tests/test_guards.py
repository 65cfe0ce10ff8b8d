"""Values that would damage the host are refused before the role changes anything.

Every case runs the whole role in check mode (sctools.refusals), on one
instance: the guards are the same on both releases.
"""

import pytest
import yaml
from scenario import assert_nothing_changed, refusals_on, variable_of

from sctools import REPO_ROOT

# The site-wide registry ports (required by the role, no default): every
# case starts from their one home, group_vars/all.yaml, as converge does.
SITE = yaml.safe_load((REPO_ROOT / "group_vars" / "all.yaml").read_text())
PORTS = {name: SITE[name] for name in SITE if name.startswith("mirror_") and name.endswith("_port")}

BAD = {
    "cache root /": {"mirror_cache_root": "/"},
    "cache root /etc": {"mirror_cache_root": "/etc"},
    "cache root under /usr": {"mirror_cache_root": "/usr/lib/mirror"},
    "cache root /var/lib": {"mirror_cache_root": "/var/lib"},
    "cache root relative": {"mirror_cache_root": "cache"},
    "cache root escaping": {"mirror_cache_root": "/srv/mirror/../../etc"},
    "static root /": {"mirror_static_root": "/"},
    "static root /root": {"mirror_static_root": "/root/www"},
    "cache inside static": {
        "mirror_static_root": "/srv/mirror",
        "mirror_cache_root": "/srv/mirror/cache",
    },
    "hostnames as a string": {"mirror_hostnames": "mirror.example.org"},
    "hostname with a space": {"mirror_hostnames": ["mirror example.org"]},
    "no hostnames": {"mirror_hostnames": []},
    "port above 65535": {"mirror_dockerhub_https_port": 70000},
    "port 0": {"mirror_quay_http_port": 0},
    "upstream not https": {"mirror_pypi_upstream": "file:///etc/"},
    "cache size not a size": {"mirror_cache_size_limit": "lots"},
    # The apache role's variables (mirror imports it after its own checks).
    "hsts max-age negative": {"apache_hsts_max_age": -1},
    "hsts max-age over two years": {"apache_hsts_max_age": 63072001},
    "header value with a newline": {"apache_extra_headers": {"X-Test": "a\nTraceEnable On"}},
    "header value with a quote": {"apache_extra_headers": {"X-Test": 'a" env=x'}},
    "header name with a space": {"apache_extra_headers": {"X Test": "1"}},
    "hsts as an extra header": {"apache_extra_headers": {"Strict-Transport-Security": "max-age=1"}},
    "security headers as a list": {"apache_security_headers": ["X-Frame-Options: DENY"]},
}
CASES = {name: {**PORTS, **bad} for name, bad in BAD.items()}
# The variable each refusal must name: the first its bad values set, unless listed.
VARIABLE = {"cache inside static": "mirror_cache_root", "upstream not https": "upstream"}


@pytest.fixture(scope="module")
def outcome(host):
    return refusals_on(host, "mirror", CASES, only_on="bookworm")


@pytest.mark.parametrize("case", CASES)
def test_dangerous_value_is_refused_naming_the_variable(outcome, case):
    assert variable_of(case, BAD, VARIABLE) in outcome.messages[case]


def test_nothing_changed_or_would_have(outcome, host):
    assert_nothing_changed(outcome, host, {"/": 0o755})
    assert host.file("/etc").user == "root"

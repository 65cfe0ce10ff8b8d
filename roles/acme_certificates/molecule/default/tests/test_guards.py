"""Values that would damage the host or its certificates are refused before any change.

Every case runs the whole role in check mode (sctools.refusals), on one
instance: the guards are the same on both releases.
"""

import pytest
from scenario import assert_nothing_changed, refusals_on, variable_of


def cert(**fields):
    """One entry of acme_certificates_certs, good but for the given fields."""
    return [{"name": "web", "domains": ["web.acme-test.example"], **fields}]


CASES = {
    "certs as a string": {"acme_certificates_certs": "web"},
    "name with a slash": {"acme_certificates_certs": cert(name="../etc")},
    "name with dots": {"acme_certificates_certs": cert(name="web..old")},
    "name with a newline": {"acme_certificates_certs": cert(name="web\n")},
    "domains as a string": {"acme_certificates_certs": cert(domains="web.acme-test.example")},
    "no domains": {"acme_certificates_certs": cert(domains=[])},
    "domain breaking its line": {
        "acme_certificates_certs": cert(domains=["web.acme-test.example > x\nevil.example"])
    },
    "wildcard domain": {"acme_certificates_certs": cert(domains=["*.acme-test.example"])},
    "units as a string": {"acme_certificates_certs": cert(reload_services="apache2.service")},
    "unit read as an option": {"acme_certificates_certs": cert(reload_services=["--now"])},
    "dir /etc": {"acme_certificates_dir": "/etc"},
    "dir /etc/ssl": {"acme_certificates_dir": "/etc/ssl"},
    "dir relative": {"acme_certificates_dir": "etc/ssl/acme"},
    "dir escaping": {"acme_certificates_dir": "/etc/ssl/acme/../../../usr"},
    "dir inside the webroot": {"acme_certificates_dir": "/var/lib/acme-challenge/keys"},
    "webroot /": {"acme_certificates_webroot": "/"},
    "webroot /tmp": {"acme_certificates_webroot": "/tmp"},
    "webroot /var/lib": {"acme_certificates_webroot": "/var/lib"},
    "directory url plain http": {
        "acme_certificates_directory_url": "http://acme-v02.api.letsencrypt.org/directory"
    },
    "directory url a file": {"acme_certificates_directory_url": "file:///etc/passwd"},
    "account email with a newline": {"acme_certificates_account_email": "root@example.org\n"},
    "group read as an option": {"acme_certificates_group": "-r"},
    "ca bundle relative": {"acme_certificates_ca_bundle": "pebble.pem"},
    "renew days 0": {"acme_certificates_renew_days": 0},
    "renew days 90": {"acme_certificates_renew_days": 90},
    "timer oncalendar two lines": {
        "acme_certificates_timer_oncalendar": "daily\nExecStart=/bin/sh"
    },
}
# The variable each refusal must name.
VARIABLE = {"dir inside the webroot": "acme_certificates_webroot"}


@pytest.fixture(scope="module")
def outcome(host):
    return refusals_on(
        host,
        "acme_certificates",
        CASES,
        only_on="bookworm",
        files=["/etc/dehydrated/domains.txt"],
    )


@pytest.mark.parametrize("case", CASES)
def test_dangerous_value_is_refused_naming_the_variable(outcome, case):
    assert variable_of(case, CASES, VARIABLE) in outcome.messages[case]


def test_nothing_changed_or_would_have(outcome, host):
    directories = {"/": 0o755, "/etc": 0o755, "/etc/ssl": 0o755, "/tmp": 0o1777}
    assert_nothing_changed(outcome, host, directories, group="root")
    assert not host.file("/var/lib/acme-challenge/keys").exists

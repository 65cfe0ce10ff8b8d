"""Behaviour of the mariadb role: Etherpad's database on loopback, nothing for other hosts.

converge.yml creates the databases etherpad and other_app and the user
etherpad (password converge-etherpad-password, ALL on etherpad.*). Clients
run on the instance with the mariadb client, over TCP to 127.0.0.1:3306 as
Etherpad in a host-network container will.
"""

import shlex
import uuid

import pytest
from scenario import converge, instance_host, instance_names, original_values_put_back

testinfra_hosts = instance_names()

PASSWORD = "converge-etherpad-password"
CONFIG = "/etc/mysql/mariadb.conf.d/60-system-config.cnf"
ETHERPAD = {"name": "etherpad", "password": PASSWORD, "privileges": ["etherpad.*:ALL"]}

original = original_values_put_back()


def sql(host, statement, user="etherpad", password=PASSWORD, port=3306, database=""):
    """A statement through the mariadb client over TCP to 127.0.0.1 (rc, output)."""
    command = [
        "mariadb", "--protocol=TCP", "-h", "127.0.0.1", "-P", str(port),
        "-u", user, "--batch", "--skip-column-names", "-e", statement,
    ]  # fmt: skip
    if password is not None:
        command.insert(1, f"--password={password}")
    if database:
        command.append(database)
    result = host.run(shlex.join(command))
    return result.rc, result.stdout.strip() + result.stderr.strip()


def as_root(host, statement):
    """A statement as root through the unix socket, as the role itself logs in."""
    return host.check_output(
        f"mariadb -u root --batch --skip-column-names -e {shlex.quote(statement)}"
    )


def main_pid(host):
    return host.check_output("systemctl show -p MainPID --value mariadb")


def other_instance(host):
    name = host.backend.get_hostname()
    return instance_host(next(n for n in instance_names() if n != name))


def eth0_address(host, family):
    out = host.check_output(f"ip -{family} -o addr show dev eth0 scope global")
    return out.split()[3].split("/")[0]


def test_mariadb_runs_and_starts_at_boot(host):
    mariadb = host.service("mariadb")
    assert mariadb.is_running
    assert mariadb.is_enabled


def test_user_logs_in_over_tcp_on_127_0_0_1_port_3306(host):
    rc, out = sql(host, "SELECT CURRENT_USER(), @@port")
    assert rc == 0, out
    assert out.split() == ["etherpad@localhost", "3306"]


def test_user_creates_and_uses_a_table_in_its_database(host):
    table = f"t_{uuid.uuid4().hex[:12]}"
    statements = (
        f"CREATE TABLE {table} (`key` VARCHAR(100) PRIMARY KEY, value LONGTEXT);"
        f"INSERT INTO {table} VALUES ('pad:1', 'caf\u00e9 \U0001f600');"
        f"SELECT value FROM {table}; DROP TABLE {table};"
    )
    rc, out = sql(host, statements, database="etherpad")
    assert rc == 0, out
    assert out == "caf\u00e9 \U0001f600"


def test_databases_are_utf8mb4(host):
    out = as_root(
        host,
        "SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA"
        " WHERE SCHEMA_NAME = 'etherpad'",
    )
    assert out.split() == ["utf8mb4", "utf8mb4_unicode_ci"]


@pytest.mark.parametrize("database", ["other_app", "mysql"])
def test_user_cannot_reach_other_databases(host, database):
    rc, out = sql(host, "SHOW TABLES", database=database)
    assert rc != 0
    assert "Access denied" in out, out


def test_user_sees_only_its_database(host):
    rc, out = sql(host, "SHOW DATABASES")
    assert rc == 0, out
    assert set(out.split()) == {"etherpad", "information_schema"}


def test_wrong_password_is_refused(host):
    rc, out = sql(host, "SELECT 1", password="wrong-password")
    assert rc != 0
    assert "Access denied" in out, out


def test_root_logs_in_over_the_socket_without_password(host):
    assert as_root(host, "SELECT CURRENT_USER()") == "root@localhost"


@pytest.mark.parametrize("password", [None, "", "root"])
def test_root_is_refused_over_tcp(host, password):
    rc, out = sql(host, "SELECT 1", user="root", password=password)
    assert rc != 0
    assert "Access denied" in out, out


def test_mariadb_listens_on_127_0_0_1_port_3306_only(host):
    # ss cannot name mariadbd's sockets here (another user's, without
    # CAP_SYS_PTRACE): every TCP listener but sshd's and Docker's resolver
    # (127.0.0.11) is MariaDB's, and it has no second (extra) port.
    listeners = {line.split()[3] for line in host.check_output("ss -ltnH").splitlines()}
    others = {a for a in listeners if a.rsplit(":", 1)[1] == "22" or a.startswith("127.0.0.11:")}
    assert listeners - others == {"127.0.0.1:3306"}
    assert as_root(host, "SELECT @@bind_address, @@port, @@extra_port").split() == [
        "127.0.0.1",
        "3306",
        "0",
    ]


@pytest.mark.parametrize("family", [4, 6])
def test_port_3306_is_closed_from_the_other_instance(host, family):
    address = eth0_address(host, family)
    probe = (
        "import socket, sys\n"
        "try:\n"
        f"    socket.create_connection(({address!r}, 3306), timeout=5).close()\n"
        "except ConnectionRefusedError:\n"
        "    sys.exit(0)\n"
        "sys.exit('connected or timed out')\n"
    )
    result = other_instance(host).run(f"python3 -c {shlex.quote(probe)}")
    assert result.rc == 0, result.stderr


def test_data_is_in_var_lib_mysql(host):
    assert as_root(host, "SELECT @@datadir") == "/var/lib/mysql/"
    assert host.file("/var/lib/mysql/etherpad").is_directory


def test_converging_again_does_not_restart_mariadb(host):
    before = main_pid(host)
    output = converge(host)
    assert "RUNNING HANDLER" not in output
    assert main_pid(host) == before


def test_changed_password_replaces_the_old_one(host, original):
    new = f"new-{uuid.uuid4().hex}"
    converge(host, {"mariadb_users": [{**ETHERPAD, "password": new}]})
    assert sql(host, "SELECT 1", password=new)[0] == 0
    rc, out = sql(host, "SELECT 1")
    assert rc != 0
    assert "Access denied" in out, out


def test_changed_port_restarts_mariadb_on_it(host, original):
    before = main_pid(host)
    output = converge(host, {"mariadb_port": 3307})
    assert "RUNNING HANDLER [mariadb : Restart mariadb]" in output
    assert main_pid(host) != before
    assert sql(host, "SELECT @@port", port=3307) == (0, "3307")
    assert sql(host, "SELECT 1")[0] != 0

"""SMTP checks against aiosmtpd relays started by the test: EHLO, STARTTLS, AUTH, implicit TLS."""

from __future__ import annotations

from .conftest import SmtpServers, assert_failed, assert_ok, run_check


def test_smtp_ok_with_starttls_and_auth(trusted_smtp_cert: SmtpServers) -> None:
    s = trusted_smtp_cert
    result = run_check(f"smtp://{s.user}:{s.password}@127.0.0.1:{s.starttls_port}")
    assert_ok(result, "EHLO", "TLS", f"logged in as {s.user}")
    assert "no TLS" not in result.reason


def test_smtps_ok_with_implicit_tls(trusted_smtp_cert: SmtpServers) -> None:
    s = trusted_smtp_cert
    assert_ok(run_check(f"smtps://{s.user}:{s.password}@127.0.0.1:{s.implicit_port}"), "TLS", "logged in")


def test_smtp_plain_relay_without_auth(smtp_servers: SmtpServers) -> None:
    assert_ok(run_check(f"smtp://127.0.0.1:{smtp_servers.plain_port}"), "no TLS")


def test_smtp_wrong_password(trusted_smtp_cert: SmtpServers) -> None:
    s = trusted_smtp_cert
    result = run_check(f"smtp://{s.user}:not-it@127.0.0.1:{s.starttls_port}")
    assert_failed(result, "wrong user name or password", "535")


def test_smtp_untrusted_certificate_is_a_tls_error(smtp_servers: SmtpServers) -> None:
    s = smtp_servers
    assert_failed(run_check(f"smtp://{s.user}:{s.password}@127.0.0.1:{s.starttls_port}"), "TLS error", "not trusted")


def test_smtp_demanding_starttls_of_a_relay_without_it(smtp_servers: SmtpServers) -> None:
    assert_failed(run_check(f"smtp://127.0.0.1:{smtp_servers.plain_port}?starttls=required"), "does not offer STARTTLS")


def test_smtp_refused_port(refused_port: int) -> None:
    assert_failed(run_check(f"smtp://u:pw-secret@127.0.0.1:{refused_port}"), "refused")


def test_smtp_pointed_at_redis_is_the_wrong_protocol(redis_server: tuple[int, str]) -> None:
    assert_failed(run_check(f"smtp://u:pw-secret@127.0.0.1:{redis_server[0]}"), "wrong protocol", "SMTP")


def test_smtp_pointed_at_mariadb_is_the_wrong_protocol(mysql_admin: object) -> None:
    assert_failed(run_check("smtp://127.0.0.1:3306"), "wrong protocol", "not an SMTP reply")


def test_smtp_timeout(silent_port: int) -> None:
    assert_failed(run_check(f"smtp://u:pw-secret@127.0.0.1:{silent_port}"), "timed out")

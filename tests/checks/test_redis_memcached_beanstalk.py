"""Redis, Memcached and Beanstalkd checks against private servers started on free ports."""

from __future__ import annotations

import time

from .conftest import assert_failed, assert_ok, run_check


def test_redis_ok_with_the_password(redis_server: tuple[int, str]) -> None:
    port, password = redis_server
    assert_ok(run_check(f"redis://:{password}@127.0.0.1:{port}/0"), "PING", f"127.0.0.1:{port}")


def test_redis_wrong_password(redis_server: tuple[int, str]) -> None:
    port, _ = redis_server
    assert_failed(run_check(f"redis://:not-the-password@127.0.0.1:{port}/0"), "wrong password")


def test_redis_without_a_password_is_told_the_server_wants_one(redis_server: tuple[int, str]) -> None:
    port, _ = redis_server
    assert_failed(run_check(f"redis://127.0.0.1:{port}/0"), "wants a password")


def test_redis_refused_port(refused_port: int) -> None:
    assert_failed(run_check(f"redis://:pw-secret@127.0.0.1:{refused_port}"), "refused", "nothing listens")


def test_redis_pointed_at_memcached_is_the_wrong_protocol(memcached_server: tuple[int, int, str, str]) -> None:
    open_port = memcached_server[0]
    assert_failed(run_check(f"redis://:pw-secret@127.0.0.1:{open_port}"), "wrong protocol", "redis")


def test_redis_timeout(silent_port: int) -> None:
    started = time.monotonic()
    assert_failed(run_check(f"redis://:pw-secret@127.0.0.1:{silent_port}"), "timed out")
    assert time.monotonic() - started < 10


def test_memcached_ok_open_and_with_credentials(memcached_server: tuple[int, int, str, str]) -> None:
    open_port, auth_port, user, password = memcached_server
    assert_ok(run_check(f"memcached://127.0.0.1:{open_port}"), "memcached 1.")
    assert_ok(run_check(f"memcached://{user}:{password}@127.0.0.1:{auth_port}"), "answered version")


def test_memcached_wrong_password_and_missing_credentials(memcached_server: tuple[int, int, str, str]) -> None:
    _, auth_port, user, _ = memcached_server
    assert_failed(run_check(f"memcached://{user}:wrong-pw@127.0.0.1:{auth_port}"), "wrong user name or password")
    assert_failed(run_check(f"memcached://127.0.0.1:{auth_port}"), "wants a user name and password")


def test_memcached_refused_wrong_protocol_timeout(
    refused_port: int, silent_port: int, redis_server: tuple[int, str]
) -> None:
    assert_failed(run_check(f"memcached://127.0.0.1:{refused_port}"), "refused")
    assert_failed(run_check(f"memcached://127.0.0.1:{redis_server[0]}"), "wrong protocol", "memcached")
    assert_failed(run_check(f"memcached://127.0.0.1:{silent_port}"), "timed out")


def test_beanstalkd_ok(beanstalkd_server: int) -> None:
    assert_ok(run_check(f"beanstalk://127.0.0.1:{beanstalkd_server}"), "beanstalkd", "stats")


def test_beanstalkd_refused_wrong_protocol_timeout(
    refused_port: int, silent_port: int, redis_server: tuple[int, str]
) -> None:
    assert_failed(run_check(f"beanstalk://127.0.0.1:{refused_port}"), "refused")
    assert_failed(run_check(f"beanstalk://127.0.0.1:{redis_server[0]}"), "wrong protocol", "beanstalkd")
    assert_failed(run_check(f"beanstalk://127.0.0.1:{silent_port}"), "timed out")

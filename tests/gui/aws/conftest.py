"""The window's AWS paths: dummy credentials, instant RDS waits (tests/aws's fixtures), moto in this process
and, for SSM, as a real HTTP endpoint too (tests/aws_config's)."""

from __future__ import annotations

from tests.aws.conftest import dummy_aws, moto_endpoint  # noqa: F401  (fixtures)

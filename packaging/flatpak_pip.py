"""Write the Flatpak's Python modules from pyproject.toml: every wheel with its PyPI URL and sha256.

    .venv/bin/python packaging/flatpak_pip.py      (from the repository root; needs PyPI, not a build)

The equivalent of flatpak-builder-tools' ``flatpak-pip-generator --prefer-wheels``, written here because
that script turns every binary wheel back into a source distribution (cryptography would then need Rust,
and psycopg-binary and PySide6 have no sdist to build). pip itself resolves the runtime dependencies for
the runtime's Python on each architecture (``pip install --dry-run --report``; PyPI's metadata, no wheel
is downloaded), pinned to the versions installed here, so the Flatpak ships what the tests ran. Out:

- ``python3-modules.json``: one module per distribution, installed with ``pip3 install --no-deps`` from
  its own wheel; a wheel built for one architecture is a source ``only-arches`` that one;
- ``python3-build-sources.json``: the build backend's wheels (``[build-system] requires``), which the
  changeover module builds itself with, offline.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.utils import canonicalize_name

HERE = Path(__file__).parent
ROOT = HERE.parent
# org.kde.Platform 6.8 is built on the freedesktop 24.08 base: its python3 is 3.12.
PYTHON = "3.12"
ARCHES = ("x86_64", "aarch64")
GLIBC_MINORS = range(39, 16, -1)  # the base's glibc is newer than 2.39: manylinux_2_39 down to 2_17
INDEX = "https://pypi.org/simple"
MODULES = HERE / "python3-modules.json"
BUILD_SOURCES = HERE / "python3-build-sources.json"
INSTALL = (
    'pip3 install --verbose --prefix="${FLATPAK_DEST}" '
    '--no-index --no-deps --no-build-isolation --find-links="file://${PWD}" "%s==%s"'
)


def installed_pins() -> list[str]:
    """``name==version`` for every distribution installed here: what the test suite ran against."""
    return sorted({f"{canonicalize_name(d.metadata['Name'])}=={d.version}" for d in metadata.distributions()})


def resolve(requirements: list[str], arch: str, pinned: bool) -> list[dict[str, object]]:
    """pip's install report for ``requirements`` on the runtime's Python and ``arch``, wheels only
    (``pinned``: at the versions installed here)."""
    with tempfile.TemporaryDirectory() as tmp:
        reqs, pins, report = Path(tmp, "requirements.txt"), Path(tmp, "constraints.txt"), Path(tmp, "report.json")
        reqs.write_text("\n".join(requirements) + "\n")
        pins.write_text("\n".join(installed_pins() if pinned else []) + "\n")
        platforms = [f"--platform=manylinux_2_{minor}_{arch}" for minor in GLIBC_MINORS]
        platforms.append(f"--platform=manylinux2014_{arch}")
        command = [
            sys.executable, "-m", "pip", "install", "--dry-run", "--quiet", "--ignore-installed",
            "--disable-pip-version-check", f"--target={tmp}/never", f"--report={report}", f"--index-url={INDEX}",
            "--only-binary=:all:", f"--python-version={PYTHON}", "--implementation=cp", *platforms,
            "-r", str(reqs), "-c", str(pins),
        ]  # fmt: skip
        # This machine's own pip settings (local wheel folders) must not leak into the manifest's URLs.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")} | {"PIP_CONFIG_FILE": os.devnull}
        subprocess.run(command, check=True, env=env)
        items: list[dict[str, object]] = json.loads(report.read_text())["install"]
        return items


def wheels(requirements: list[str], pinned: bool) -> dict[str, dict[str, object]]:
    """For each distribution: its name, version and sources, merged across the architectures."""
    found: dict[str, dict[str, object]] = {}
    for arch in ARCHES:
        for item in resolve(requirements, arch, pinned):
            meta, info = item["metadata"], item["download_info"]
            assert isinstance(meta, dict) and isinstance(info, dict)
            name = canonicalize_name(meta["name"])
            entry = found.setdefault(name, {"name": meta["name"], "version": meta["version"], "sources": {}})
            sources = entry["sources"]
            assert isinstance(sources, dict)
            url, sha256 = info["url"], info["archive_info"]["hashes"]["sha256"]
            source = sources.setdefault(url, {"type": "file", "url": url, "sha256": sha256})
            source.setdefault("arches", []).append(arch)
    for entry in found.values():
        sources = entry["sources"]
        assert isinstance(sources, dict)
        listed = []
        for source in sources.values():
            arches = source.pop("arches")
            if arches != list(ARCHES):
                source["only-arches"] = arches
            listed.append(source)
        entry["sources"] = listed
    return dict(sorted(found.items()))


def main() -> int:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    runtime = wheels(project["project"]["dependencies"], pinned=True)
    module = {
        "name": "python3-modules",
        "buildsystem": "simple",
        "build-commands": [],
        "modules": [
            {
                "name": f"python3-{name}",
                "buildsystem": "simple",
                "build-commands": [INSTALL % (entry["name"], entry["version"])],
                "sources": entry["sources"],
            }
            for name, entry in runtime.items()
        ],
    }
    MODULES.write_text(json.dumps(module, indent=2) + "\n")
    build = wheels(project["build-system"]["requires"], pinned=False)
    sources = [dict(source, dest="build-deps") for entry in build.values() for source in entry["sources"]]  # type: ignore[attr-defined]
    BUILD_SOURCES.write_text(json.dumps(sources, indent=2) + "\n")
    print(f"{MODULES.name}: {len(runtime)} distributions; {BUILD_SOURCES.name}: {len(sources)} wheels")
    return 0


if __name__ == "__main__":
    sys.exit(main())

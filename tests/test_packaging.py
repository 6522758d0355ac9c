"""Packaging: one reverse-DNS id, metadata that validates cleanly, a Flatpak built from declared sources only,
a PyInstaller spec that keeps what the app imports, and a launcher that CI can start and close.

flatpak-builder cannot fetch a runtime on this machine (no Flathub): the manifest is checked here for its
structure and for a module, with a sha256, for every runtime dependency of pyproject.toml and theirs, read
from the installed distributions' metadata for the runtime's Python on each architecture.
"""

from __future__ import annotations

import configparser
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import xml.etree.ElementTree as ET
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging import tags
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename
from packaging.version import Version

ROOT = Path(__file__).parents[1]
PACKAGING = ROOT / "packaging"
APP_ID = "io.github.changeover.changeover"
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
REQUIRE_TOOLS = os.environ.get("CHANGEOVER_REQUIRE_SERVERS") == "1" or bool(os.environ.get("CI"))
# The runtime the manifest names, and the Python it ships: org.kde.Platform 6.8 is on the freedesktop
# 24.08 base (Python 3.12, glibc newer than 2.39).
RUNTIME_PYTHON = {("org.kde.Platform", "6.8"): (3, 12)}
ARCHES = ("x86_64", "aarch64")
FINISH_ARGS = {
    "--share=ipc",
    "--socket=wayland",
    "--socket=fallback-x11",
    "--device=dri",
    "--share=network",
    "--talk-name=org.freedesktop.secrets",
    "--filesystem=home",
    "--filesystem=/srv",
}


def manifest() -> dict[str, object]:
    loaded: dict[str, object] = yaml.safe_load((PACKAGING / f"{APP_ID}.yml").read_text())
    return loaded


def python_modules() -> list[dict[str, object]]:
    modules: list[dict[str, object]] = json.loads((PACKAGING / "python3-modules.json").read_text())["modules"]
    return modules


def metainfo() -> ET.Element:
    return ET.parse(PACKAGING / f"{APP_ID}.metainfo.xml").getroot()


def tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        message = f"{name} is not installed (Debian: desktop-file-utils, appstream; .ci/run installs them)"
        if REQUIRE_TOOLS:
            pytest.fail(message + " and this is CI", pytrace=False)
        pytest.skip(message)
    return found


# --- the desktop entry and the AppStream metadata --------------------------------------------------------


def test_desktop_file_and_metainfo_share_the_id_and_command() -> None:
    desktop = configparser.ConfigParser(interpolation=None)
    desktop.optionxform = str  # type: ignore[assignment,method-assign]
    desktop.read(PACKAGING / f"{APP_ID}.desktop")
    entry = desktop["Desktop Entry"]
    assert entry["Exec"] == "changeover" and entry["Icon"] == APP_ID and entry["Type"] == "Application"
    meta = metainfo()
    assert meta.findtext("id") == APP_ID
    assert meta.findtext("launchable") == f"{APP_ID}.desktop"
    assert meta.findtext("provides/binary") == "changeover"
    app_source = (ROOT / "gui" / "app.py").read_text()
    assert f'DESKTOP_ID = "{APP_ID}"' in app_source  # Wayland finds the icon and name by this id


def test_desktop_entry_validates_with_no_warning_or_hint() -> None:
    done = subprocess.run(
        [tool("desktop-file-validate"), str(PACKAGING / f"{APP_ID}.desktop")], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stdout.strip() == "" and done.stderr.strip() == "", done.stdout + done.stderr


def test_metainfo_validates_pedantically_in_the_tree_the_flatpak_installs(tmp_path: Path) -> None:
    """The files where the manifest installs them, so the launchable, the icon and the metadata are read
    together; `--pedantic` reports hints too, and there must be none."""
    for source, target in (
        (PACKAGING / f"{APP_ID}.desktop", f"share/applications/{APP_ID}.desktop"),
        (PACKAGING / f"{APP_ID}.metainfo.xml", f"share/metainfo/{APP_ID}.metainfo.xml"),
        (ROOT / "resources" / "icons" / "app.svg", f"share/icons/hicolor/scalable/apps/{APP_ID}.svg"),
    ):
        (tmp_path / "usr" / target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, tmp_path / "usr" / target)
        assert target in (PACKAGING / f"{APP_ID}.yml").read_text()
    done = subprocess.run(
        [tool("appstreamcli"), "validate-tree", "--pedantic", "--no-net", str(tmp_path)],
        capture_output=True,
        text=True,
    )
    report = done.stdout + done.stderr
    assert done.returncode == 0 and "Validation was successful." in report, report
    assert not re.search(r"^[EWIP]: ", report, re.M), report


def test_screenshots_have_captions_and_exist_in_the_repository() -> None:
    shots = metainfo().findall("screenshots/screenshot")
    assert len(shots) >= 3
    assert [s.get("type") for s in shots].count("default") == 1
    for shot in shots:
        assert (shot.findtext("caption") or "").strip()
        url = shot.findtext("image") or ""
        assert url.startswith("https://") and (ROOT / "docs" / "screenshots" / url.rsplit("/", 1)[1]).is_file()


def test_release_notes_for_this_version_and_the_next() -> None:
    releases = metainfo().findall("releases/release")
    versions = [Version(r.get("version") or "") for r in releases]
    assert versions == sorted(versions, reverse=True)  # newest first, as AppStream wants
    assert {Version("0.1.0"), Version("0.2.0")} <= set(versions)
    assert Version(PROJECT["project"]["version"]) in versions
    for release in releases:
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", release.get("date") or "")
        assert release.findall("description/ul/li") and (release.findtext("description/p") or "").strip()


# --- the Flatpak -----------------------------------------------------------------------------------------


def test_flatpak_runs_the_gui_script_on_the_kde_runtime_with_only_the_permissions_it_needs() -> None:
    m = manifest()
    assert m["app-id"] == APP_ID and m["command"] == "changeover"
    assert PROJECT["project"]["gui-scripts"]["changeover"] == "changeover.gui.launcher:main"
    assert (m["runtime"], m["runtime-version"]) in RUNTIME_PYTHON and m["sdk"] == "org.kde.Sdk"
    assert "base" not in m  # PySide6 comes from its wheels, as a module like any other dependency
    assert set(m["finish-args"]) == FINISH_ARGS  # type: ignore[arg-type]
    readme = (ROOT / "README.md").read_text()
    for permission in FINISH_ARGS:  # each one is explained to the user
        assert f"`{permission}`" in readme, permission


def test_flatpak_builds_offline_from_declared_sources() -> None:
    m = manifest()
    modules = m["modules"]
    assert isinstance(modules, list) and modules[0] == "python3-modules.json"
    [app] = [module for module in modules if isinstance(module, dict) and module["name"] == "changeover"]
    assert "build-options" not in app  # no --share=network while building
    commands = " ".join(app["build-commands"])
    assert "pip3 install" in commands and "--no-index" in commands and "build-deps" in commands
    dir_source, build_sources = app["sources"]
    assert dir_source["type"] == "dir" and (PACKAGING / dir_source["path"]).resolve() == ROOT
    assert build_sources == "python3-build-sources.json"
    wheels = json.loads((PACKAGING / build_sources).read_text())
    names = {canonicalize_name(parse_wheel_filename(w["url"].rsplit("/", 1)[1])[0]) for w in wheels}
    for requirement in PROJECT["build-system"]["requires"]:
        assert canonicalize_name(Requirement(requirement).name) in names
    for source in wheels:
        assert source["dest"] == "build-deps" and re.fullmatch(r"[0-9a-f]{64}", source["sha256"])


def test_every_python_source_is_a_pypi_wheel_with_its_sha256_for_each_architecture() -> None:
    python = RUNTIME_PYTHON[(manifest()["runtime"], manifest()["runtime-version"])]  # type: ignore[index]
    for arch in ARCHES:
        platforms = [f"manylinux_2_{minor}_{arch}" for minor in range(39, 16, -1)] + [f"manylinux2014_{arch}"]
        supported = {*tags.cpython_tags(python, [f"cp{python[0]}{python[1]}"], platforms)}
        supported |= {*tags.compatible_tags(python, f"cp{python[0]}{python[1]}", platforms)}
        for module in python_modules():
            sources = [s for s in module["sources"] if arch in s.get("only-arches", ARCHES)]  # type: ignore[union-attr,attr-defined]
            assert len(sources) == 1, (module["name"], arch)
            [source] = sources
            assert source["type"] == "file" and source["url"].startswith("https://files.pythonhosted.org/")
            assert re.fullmatch(r"[0-9a-f]{64}", source["sha256"])
            name, version, _, wheel_tags = parse_wheel_filename(source["url"].rsplit("/", 1)[1])
            assert wheel_tags & supported, f"{source['url']} does not install on {arch} Python {python}"
            [command] = module["build-commands"]  # type: ignore[misc]
            assert "--no-index" in command and "--no-deps" in command
            installed, _, pinned = command.split('"')[-2].partition("==")  # pip3 install ... "NAME==VERSION"
            assert (canonicalize_name(installed), Version(pinned)) == (name, version)


def _requires(name: str, extras: set[str], arch: str) -> tuple[str | None, list[Requirement]]:
    """The installed version of distribution ``name`` and what it (with ``extras``) needs on the runtime,
    from its installed metadata."""
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        return None, []  # needed only on the runtime's newer Python: its own module is still checked
    env = default_environment() | {"python_version": "3.12", "python_full_version": "3.12.0"}
    env |= {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": arch}
    found = []
    for line in dist.requires or []:
        requirement = Requirement(line)
        marker = requirement.marker
        if marker is None or any(marker.evaluate(env | {"extra": extra}) for extra in {"", *extras}):
            found.append(requirement)
    return dist.version, found


@pytest.mark.parametrize("arch", ARCHES)
def test_every_runtime_dependency_and_theirs_has_a_module(arch: str) -> None:
    """The names are read from the installed distributions, which may be newer than the modules (a fresh
    venv takes the newest release): their version bounds are checked only where the versions agree."""
    modules = {}
    for module in python_modules():
        [source] = [s for s in module["sources"] if arch in s.get("only-arches", ARCHES)]  # type: ignore[union-attr,attr-defined]
        name, version, *_ = parse_wheel_filename(source["url"].rsplit("/", 1)[1])
        modules[name] = version
    todo = [(Requirement(line), True) for line in PROJECT["project"]["dependencies"]]
    seen: set[tuple[str, frozenset[str]]] = set()
    while todo:
        requirement, bounded = todo.pop()
        name = canonicalize_name(requirement.name)
        assert name in modules, f"{requirement} has no module in packaging/python3-modules.json: run flatpak_pip.py"
        if bounded:
            assert requirement.specifier.contains(modules[name], prereleases=True), (str(requirement), modules[name])
        key = (name, frozenset(requirement.extras))
        if key not in seen:
            seen.add(key)
            installed, needs = _requires(name, set(requirement.extras), arch)
            same = installed is not None and Version(installed) == modules[name]
            todo.extend((need, same) for need in needs)
    assert {"pyside6-essentials", "shiboken6", "sqlalchemy", "keyring", "secretstorage", "psycopg-binary"} <= {
        n for n, _ in seen
    }


# --- the PyInstaller bundle ------------------------------------------------------------------------------


def test_pyinstaller_spec_lists_keyring_backends_and_migrations() -> None:
    spec = (PACKAGING / "changeover.spec").read_text()
    assert 'collect_submodules("keyring.backends")' in spec
    assert "core/inventory/migrations" in spec


def test_the_bundle_leaves_out_no_qt_module_the_app_imports() -> None:
    spec = (PACKAGING / "changeover.spec").read_text()
    block = re.search(r"QT_UNUSED = \[(.*?)\n\]", spec, re.S)
    assert block is not None
    excluded = set(re.findall(r"\bQt\w+", block.group(1)))
    assert {"QtNetwork", "QtQml", "QtQuick", "QtWebEngineCore"} <= excluded
    imported = set()
    for folder in ("core", "gui", "cli"):
        for path in (ROOT / folder).rglob("*.py"):
            imported |= set(re.findall(r"PySide6\.(Qt\w+)", path.read_text(encoding="utf-8")))
    assert imported and not imported & excluded, imported & excluded


def test_the_bundle_keeps_the_model_of_every_aws_service_core_calls() -> None:
    spec = (PACKAGING / "changeover.spec").read_text()
    kept = re.search(r"AWS_USED = \{(.*?)\}", spec)
    assert kept is not None
    services = set()
    for path in (ROOT / "core").rglob("*.py"):
        services |= set(re.findall(r"\bclient\(\s*\"([a-z0-9-]+)\"", path.read_text(encoding="utf-8")))
    assert {"rds", "s3", "ssm", "secretsmanager", "sts"} <= services, services
    assert services <= set(re.findall(r"\"([a-z0-9-]+)\"", kept.group(1))), services


def test_the_launcher_closes_the_window_once_shown_when_asked() -> None:
    """What CI does with the bundle (packaging/bundle.py), here from the source tree."""
    # No session bus and no display: the user's own keyring and screen are never touched.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DBUS_", "DISPLAY", "WAYLAND_"))}
    env |= {"CHANGEOVER_CLOSE_WHEN_SHOWN": "1", "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run(
        [sys.executable, "-m", "changeover.gui.launcher"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"main window shown [0-9.]+ s after start", done.stderr), done.stderr


def test_the_gui_script_is_the_launcher() -> None:
    project = PROJECT["project"]
    assert project["gui-scripts"]["changeover"] == "changeover.gui.launcher:main"
    assert not any("keyrings.alt" in dep for dep in project["dependencies"])


def test_every_package_folder_is_listed_for_the_wheel() -> None:
    tool = PROJECT["tool"]["setuptools"]
    listed = set(tool["packages"])
    mapping = {folder: package for package, folder in tool["package-dir"].items()}
    found = set()
    for top, package in mapping.items():
        for init in (ROOT / top).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / top).parts
            found.add(".".join((package, *relative)))
    assert found == listed

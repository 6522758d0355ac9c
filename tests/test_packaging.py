"""Packaging metadata agrees with itself: one reverse-DNS id, an entry point that exists, the keyring talk."""

from __future__ import annotations

import configparser
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).parents[1]
APP_ID = "io.github.changeover.Changeover"


def test_desktop_file_and_metainfo_share_the_id_and_command() -> None:
    desktop = configparser.ConfigParser(interpolation=None)
    desktop.optionxform = str  # type: ignore[assignment,method-assign]
    desktop.read(ROOT / "packaging" / f"{APP_ID}.desktop")
    entry = desktop["Desktop Entry"]
    assert entry["Exec"] == "changeover" and entry["Icon"] == APP_ID and entry["Type"] == "Application"
    meta = ET.parse(ROOT / "packaging" / f"{APP_ID}.metainfo.xml").getroot()
    assert meta.findtext("id") == APP_ID
    assert meta.findtext("launchable") == f"{APP_ID}.desktop"
    assert meta.find("provides/binary").text == "changeover"  # type: ignore[union-attr]


def test_the_gui_script_is_the_launcher() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["gui-scripts"]["changeover"] == "changeover.gui.launcher:main"
    assert not any("keyrings.alt" in dep for dep in project["dependencies"])


def test_flatpak_talks_to_the_secret_service_and_installs_the_metadata() -> None:
    manifest = (ROOT / "packaging" / f"{APP_ID}.yml").read_text()
    assert f"app-id: {APP_ID}" in manifest
    assert "--talk-name=org.freedesktop.secrets" in manifest
    assert f"{APP_ID}.metainfo.xml" in manifest and f"{APP_ID}.desktop" in manifest


def test_pyinstaller_spec_lists_keyring_backends_and_migrations() -> None:
    spec = (ROOT / "packaging" / "changeover.spec").read_text()
    assert 'collect_submodules("keyring.backends")' in spec
    assert "core/inventory/migrations" in spec


def test_every_package_folder_is_listed_for_the_wheel() -> None:
    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(tool["packages"])
    mapping = {folder: package for package, folder in tool["package-dir"].items()}
    found = set()
    for top, package in mapping.items():
        for init in (ROOT / top).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / top).parts
            found.add(".".join((package, *relative)))
    assert found == listed

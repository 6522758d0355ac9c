"""A view of the tree as the installed package, for mypy only: core/, gui/ and cli/ are changeover.core,
changeover.gui and changeover.cli (see pyproject.toml, [tool.mypy])."""

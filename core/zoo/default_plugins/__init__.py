"""zoo's built-in components, each module a plugin registered through an entry point.

They use exactly the hooks and entry points a third-party plugin uses (see pyproject.toml),
so nothing about a built-in is special.
"""

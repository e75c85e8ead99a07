"""Subcommands of the rightsizer CLI."""

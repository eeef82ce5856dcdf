"""``python main.py --help`` in a fraction of a second: Hydra prints its own help, but the config repository it copies
for every group it lists (about 80 deep copies of the whole config store) is made once per composition instead."""
from __future__ import annotations

import functools
from typing import Sequence

HELP_FLAGS = ("--help", "-h")


def wants_help(argv: Sequence[str]) -> bool:
    return any(arg in HELP_FLAGS for arg in argv)


def share_group_listings() -> None:
    """For the rest of this process (which prints the help and exits): Hydra's config loader makes the repository
    of each (config name, overrides) once. Listing groups only reads it, so sharing it changes no output."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    make = ConfigLoaderImpl._parse_overrides_and_create_caching_repo
    made: dict[tuple, object] = {}

    @functools.wraps(make)
    def shared(self, config_name, overrides):
        key = (id(self), config_name, tuple(overrides))
        if key not in made:
            made[key] = make(self, config_name, overrides)
        return made[key]

    ConfigLoaderImpl._parse_overrides_and_create_caching_repo = shared

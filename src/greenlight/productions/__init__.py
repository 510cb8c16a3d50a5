"""Productions, their episodes and shots."""

from greenlight.productions.registry import (
    create_production,
    create_shot,
    find_production,
    get_production,
    get_shot,
    list_productions,
    list_shots,
)

__all__ = [
    "create_production",
    "create_shot",
    "find_production",
    "get_production",
    "get_shot",
    "list_productions",
    "list_shots",
]

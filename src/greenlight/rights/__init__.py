"""Who may be used and with what: vendors and their tools, talent and their consents."""

from greenlight.rights.registry import (
    ConsentDraft,
    consents_for,
    create_tool,
    create_vendor,
    get_talent,
    get_tool,
    get_vendor,
    list_consents,
    list_talent,
    list_tools,
    list_vendors,
    record_consent,
    register_talent,
)

__all__ = [
    "ConsentDraft",
    "consents_for",
    "create_tool",
    "create_vendor",
    "get_talent",
    "get_tool",
    "get_vendor",
    "list_consents",
    "list_talent",
    "list_tools",
    "list_vendors",
    "record_consent",
    "register_talent",
]

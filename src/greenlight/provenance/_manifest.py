"""Facts in, C2PA manifest definition out. Pure: no files, no keys, no SDK."""

from __future__ import annotations

from typing import Any

import greenlight
from greenlight.provenance._facts import GOVERNANCE_LABEL, CredentialFacts, TrainingMining

IPTC = "http://cv.iptc.org/newscodes/digitalsourcetype/"
TRAINED_ALGORITHMIC_MEDIA = IPTC + "trainedAlgorithmicMedia"
COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA = IPTC + "compositeWithTrainedAlgorithmicMedia"

CLAIM_GENERATOR = "Greenlight"
PARENT_ID = "parent"


def input_id(position: int) -> str:
    """The ingredient label of the ``position``-th reference input."""
    return f"input-{position}"


def manifest_definition(facts: CredentialFacts, *, title: str, label: str) -> dict[str, Any]:
    """The manifest definition the SDK's Builder takes, for one output.

    ``label`` (``urn:c2pa:<uuid>``) is chosen by the caller so it is known without
    reading the signed file back.
    """
    agent = {"name": facts.tool.name, "version": facts.tool.version}
    inputs = [input_id(i) for i in range(len(facts.inputs))]

    def ai_action(name: str, source_type: str) -> dict[str, Any]:
        action: dict[str, Any] = {
            "action": name,
            "digitalSourceType": source_type,
            "softwareAgent": agent,
        }
        if inputs:
            action["parameters"] = {"ingredientIds": inputs}
        return action

    actions: list[dict[str, Any]]
    if facts.kind == "generated":
        actions = [ai_action("c2pa.created", TRAINED_ALGORITHMIC_MEDIA)]
    else:
        actions = [
            {"action": "c2pa.opened", "parameters": {"ingredientIds": [PARENT_ID]}},
            ai_action("c2pa.edited", COMPOSITE_WITH_TRAINED_ALGORITHMIC_MEDIA),
        ]
    return {
        "label": label,
        "title": title,
        "claim_generator_info": [{"name": CLAIM_GENERATOR, "version": greenlight.__version__}],
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": actions}},
            {"label": "cawg.training-mining", "data": training_mining(facts.training_mining)},
            {
                "label": GOVERNANCE_LABEL,
                "data": facts.governance.model_dump(mode="json", exclude_none=True),
            },
        ],
    }


def training_mining(terms: TrainingMining) -> dict[str, Any]:
    """The ``cawg.training-mining`` assertion body for ``terms``."""
    entries: dict[str, Any] = {}
    for field in ("ai_generative_training", "ai_training", "ai_inference", "data_mining"):
        use: str = getattr(terms, field)
        entry: dict[str, Any] = {"use": use}
        if use == "constrained":
            entry["constraint_info"] = terms.constraint_info
        entries[f"cawg.{field}"] = entry
    return {"entries": entries}

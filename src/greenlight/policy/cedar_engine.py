"""The Cedar policy set: loaded and validated once, then judging documents.

Every rule is a Cedar policy with annotations a lawyer reads and the engine
relies on::

    @id("talent-likeness-needs-legal")        stable, quoted in every decision
    @outcome("needs_approval")                deny | needs_approval | allow
    @approvers("legal")                       "a, b": any one of them;
                                              "a; b, c": a and one of b, c
    @reason("... legal confirms ...")         the sentence the user reads
    forbid (principal, action, resource) when { ... };

All rules answer one Cedar request per decision. When a ``deny`` rule
forbids, the request is denied, whatever else fires: forbid wins. Otherwise
each ``needs_approval`` rule that forbids asks for its approvers, and when
nothing forbids, the ``allow`` permit lets the use proceed on disclosure alone.
(Two Cedar actions, one per kind of forbid, would read the same but cost two
Cedar requests per decision, each parsing the whole context again; one
request halves that.)

The tool asked for is the resource, a Tool entity whose attributes are its
registry facts. Each distinct Tool entity is parsed into Cedar once and kept
(keyed by its facts, so a changed attestation is simply another entity), so a
decision pays Cedar's parsing only for the request's own context.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cedarpy
import orjson
from cedarpy import _internal as cedar_core

from greenlight.core.enums import Outcome, Role
from greenlight.core.errors import InvalidInput
from greenlight.core.models import Requirement
from greenlight.policy.context import VOCABULARY, CedarQuery, build_query
from greenlight.policy.document import PolicyDocument
from greenlight.policy.facts import Ruling

DEFAULT_DIRECTORY = Path(__file__).with_name("cedar")
SCHEMA_SUFFIX = ".cedarschema"
POLICY_SUFFIX = ".cedar"

# Rule ids the engine itself answers with, when no annotated rule applies.
NO_RULE_PERMITS = "no-rule-permits"
EVALUATION_ERROR = "policy-evaluation-error"


@dataclass(frozen=True)
class Rule:
    """One annotated Cedar policy: what it decides, who approves, why, and where it is."""

    id: str
    outcome: Outcome
    reason: str
    approvers: tuple[tuple[Role, ...], ...]
    source: str
    order: int

    def requirements(self) -> tuple[Requirement, ...]:
        """The approvals this rule asks for: one per group of roles."""
        return tuple(
            Requirement(roles=group, reason=self.reason, rule=self.id) for group in self.approvers
        )


class CedarPolicy:
    """A validated set of Cedar rules and the version that names its exact text."""

    def __init__(self, files: Mapping[str, str], schema: str, *, origin: str = "<memory>") -> None:
        """Parse and validate ``files`` (name → Cedar text) against ``schema``.

        Raises :class:`InvalidInput` (``policy.invalid``) naming the file and
        rule at fault when a policy does not parse, breaks the schema, or lacks
        the annotations every rule needs.
        """
        if not files:
            raise _invalid(f"{origin} holds no {POLICY_SUFFIX} files; there is nothing to decide.")
        self._files = dict(sorted(files.items()))
        self._schema_text = schema
        self.origin = origin
        try:
            self._schema = cedarpy.Schema.from_str(schema)
        except ValueError as exc:
            raise _invalid(f"The schema in {origin} does not parse: {exc}") from None
        rules: dict[str, Rule] = {}
        for name, text in self._files.items():
            for rule in _read_rules(name, text, start=len(rules)):
                if rule.id in rules:
                    raise _invalid(
                        f"Rule id {rule.id!r} is used twice ({rules[rule.id].source} and "
                        f"{name}); each rule needs its own id."
                    )
                rules[rule.id] = rule
        if not any(r.outcome is Outcome.ALLOW for r in rules.values()):
            raise _invalid(
                f"No rule in {origin} permits anything, so every request would be denied; "
                'add the @outcome("allow") permit.'
            )
        self._rules = rules
        text = "\n".join(self._files.values())
        checked = cedarpy.validate_policies(text, self._schema)
        if not checked.validation_passed:
            named = checked.id_annotations_by_policy_id
            problems = "; ".join(
                f"{named.get(e.policy_id, e.policy_id) or 'policy'}: {e.error}"
                for e in checked.errors
            )
            raise _invalid(f"The rules in {origin} do not fit the schema: {problems}")
        self._policy_set = cedarpy.PolicySet.from_str(text)
        # Parsed Tool entities by their JSON; distinct tools are few, bound it anyway.
        self._tools: dict[str, Any] = {}
        self._version = policy_version({**self._files, "schema" + SCHEMA_SUFFIX: schema})
        self._rulings: dict[tuple[bool, tuple[str, ...]], Ruling] = {}

    @classmethod
    def load(cls, directory: Path | str | None = None) -> CedarPolicy:
        """Load every ``*.cedar`` file and the one ``*.cedarschema`` in ``directory``.

        Without a directory, the rules shipped with Greenlight.
        """
        folder = Path(directory) if directory is not None else DEFAULT_DIRECTORY
        if not folder.is_dir():
            raise _invalid(f"There is no policy directory at {folder}.")
        schemas = sorted(folder.glob("*" + SCHEMA_SUFFIX))
        if len(schemas) != 1:
            raise _invalid(
                f"{folder} needs exactly one {SCHEMA_SUFFIX} file next to its rules; "
                f"found {len(schemas)}."
            )
        try:
            files = {
                p.name: p.read_text(encoding="utf-8") for p in folder.glob("*" + POLICY_SUFFIX)
            }
            schema = schemas[0].read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise _invalid(f"The policy files in {folder} cannot be read: {exc}") from None
        return cls(files, schema, origin=str(folder))

    @property
    def version(self) -> str:
        """``cedar-`` and the first 12 hex digits of the SHA-256 of the files' content."""
        return self._version

    @property
    def rules(self) -> tuple[Rule, ...]:
        """Every rule, in file and declaration order."""
        return tuple(self._rules.values())

    @property
    def files(self) -> dict[str, str]:
        """The Cedar text of each rule file, by name."""
        return dict(self._files)

    @property
    def schema(self) -> str:
        """The Cedar schema text the rules were validated against."""
        return self._schema_text

    def decide(self, document: PolicyDocument) -> Ruling:
        """Judge one document: allow, needs_approval (who, why) or deny (why)."""
        return self.judge([build_query(document)])[0]

    def decide_many(self, documents: Iterable[PolicyDocument]) -> list[Ruling]:
        """Judge many documents in one Cedar call."""
        return self.judge([build_query(d) for d in documents])

    def judge(self, queries: Sequence[CedarQuery]) -> list[Ruling]:
        """Judge built queries, in order: one Cedar call per distinct tool among them.

        Calls cedarpy's Rust core directly (cedarpy is pinned): its Python
        wrapper would copy each request and wrap each answer in objects we only
        unpack again, a tenth of a decision's time.
        """
        if len(queries) == 1:  # a live decision: the common case, kept short
            query = queries[0]
            answers = cedar_core.is_authorized_batch(
                [query.to_cedar()], self._policy_set, self._tool(query.tool_json), None, False
            )
            return [self._ruling(answers[0])]
        by_tool: dict[str, list[int]] = {}
        for position, query in enumerate(queries):
            by_tool.setdefault(query.tool_json, []).append(position)
        rulings: list[Ruling | None] = [None] * len(queries)
        for tool_json, positions in by_tool.items():
            answers = cedar_core.is_authorized_batch(
                [queries[i].to_cedar() for i in positions],
                self._policy_set,
                self._tool(tool_json),
                None,
                False,
            )
            for position, answer in zip(positions, answers, strict=True):
                rulings[position] = self._ruling(answer)
        return [r for r in rulings if r is not None]

    def _tool(self, tool_json: str) -> Any:
        """The parsed Cedar entities holding this Tool entity, parsed on first use."""
        entities = self._tools.get(tool_json)
        if entities is None:
            entities = cedarpy.Entities.from_json_str(tool_json)._inner
            if len(self._tools) >= 4096:
                self._tools.clear()
            self._tools[tool_json] = entities
        return entities

    def _ruling(self, answer: str) -> Ruling:
        """The ruling in Cedar's answer, read once per distinct decision and set of rules.

        An answer without errors is its decision and the policies that
        decided it (in no fixed order), plus timings that differ on every call;
        only the first two decide the ruling, so they key the rulings already
        read and most answers are never parsed as a whole.
        """
        start = answer.find(_REASON)
        if start < 0 or _NO_ERRORS not in answer:
            return self._read(orjson.loads(answer))
        start += len(_REASON)
        reasons = answer[start : answer.index("]", start)]
        key = (answer.startswith(_ALLOW), tuple(sorted(reasons.split(","))))
        ruling = self._rulings.get(key)
        if ruling is None:
            ruling = self._read(orjson.loads(answer))
            if len(self._rulings) < 65_536:  # distinct answers are few; bound them anyway
                self._rulings[key] = ruling
        return ruling

    def _read(self, answer: Mapping[str, Any]) -> Ruling:
        diagnostics = answer["diagnostics"]
        errors = diagnostics.get("errors") or []
        if errors:
            # A rule that errs is skipped by Cedar; if it was a forbid, skipping it
            # could let a request through, so an error refuses instead.
            return Ruling(
                outcome=Outcome.DENY,
                policy_version=self._version,
                rules=(EVALUATION_ERROR,),
                reasons=(
                    "The policy could not be evaluated ("
                    + "; ".join(_error_text(e) for e in errors)
                    + "); nothing proceeds until the policy or the document is fixed.",
                ),
            )
        named = diagnostics["id_annotations_by_reason"]
        fired = tuple(sorted(named[pid] for pid in diagnostics["reason"]))
        return self._rule_on(answer["decision"] == "Allow", fired)

    def _rule_on(self, allowed: bool, fired: tuple[str, ...]) -> Ruling:
        rules = sorted((self._rules[i] for i in fired), key=lambda r: r.order)
        if allowed:
            return self._answer(Outcome.ALLOW, rules)
        denials = [r for r in rules if r.outcome is Outcome.DENY]
        if denials:
            return self._answer(Outcome.DENY, denials)
        escalations = [r for r in rules if r.outcome is Outcome.NEEDS_APPROVAL]
        if escalations:
            return self._answer(Outcome.NEEDS_APPROVAL, escalations)
        return Ruling(
            outcome=Outcome.DENY,
            policy_version=self._version,
            rules=(NO_RULE_PERMITS,),
            reasons=("No rule permits this use, so it does not proceed; ask legal.",),
        )

    def _answer(self, outcome: Outcome, rules: list[Rule]) -> Ruling:
        return Ruling(
            outcome=outcome,
            policy_version=self._version,
            rules=tuple(r.id for r in rules),
            reasons=tuple(r.reason for r in rules),
            required=tuple(req for r in rules for req in r.requirements())
            if outcome is Outcome.NEEDS_APPROVAL
            else (),
        )


# Landmarks in Cedar's answer; quotes inside its strings are escaped, so none
# of these can occur inside a value.
_ALLOW = '{"decision":"Allow"'
_REASON = '"reason":['
_NO_ERRORS = '"errors":[]'


def _error_text(error: object) -> str:
    """One evaluation error as Cedar reports it: a message, or the policy and its error."""
    if isinstance(error, Mapping):
        return f"{error.get('policy_id', 'policy')}: {error.get('error', error)}"
    return str(error)


def policy_version(files: Mapping[str, str]) -> str:
    """Name a policy set by its content: the same text is the same version anywhere.

    Files are taken in name order, each as its name and its text with line
    endings normalized, so a checkout on Windows names the same version.
    """
    digest = hashlib.sha256()
    for name in sorted(files):
        body = files[name].replace("\r\n", "\n").encode("utf-8")
        digest.update(f"{name}\n{len(body)}\n".encode())
        digest.update(body)
    return "cedar-" + digest.hexdigest()[:12]


def _read_rules(name: str, text: str, *, start: int) -> list[Rule]:
    try:
        parsed: dict[str, Any] = json.loads(cedarpy.policies_to_json_str(text))
    except ValueError as exc:
        raise _invalid(f"{name} does not parse as Cedar: {exc}") from None
    if parsed.get("templates"):
        raise _invalid(f"{name} holds policy templates; rules must be plain policies.")
    rules: list[Rule] = []
    for position, policy in enumerate(parsed.get("staticPolicies", {}).values()):
        rules.append(_rule(name, position, policy, order=start + len(rules)))
    return rules


def _rule(name: str, position: int, policy: Mapping[str, Any], *, order: int) -> Rule:
    notes: dict[str, str] = policy.get("annotations") or {}
    where = f"{name}, policy {position + 1}"
    rule_id = (notes.get("id") or "").strip()
    if not rule_id:
        raise _invalid(f'{where} has no @id("..."); every rule needs a stable id.')
    where = f"{name}, rule {rule_id!r}"
    reason = " ".join((notes.get("reason") or "").split())
    if not reason:
        raise _invalid(f'{where} has no @reason("..."); say why, for the person who reads it.')
    effect = policy.get("effect")
    wanted = notes.get("outcome", "allow" if effect == "permit" else "")
    try:
        outcome = Outcome(wanted)
    except ValueError:
        raise _invalid(
            f'{where} needs @outcome("deny") or @outcome("needs_approval"), not {wanted!r}.'
        ) from None
    if (effect == "permit") != (outcome is Outcome.ALLOW):
        raise _invalid(
            f"{where}: a permit allows and a forbid denies or escalates; "
            f"@outcome({outcome.value!r}) does not fit a {effect}."
        )
    for condition in policy.get("conditions", ()):
        _check_words(where, condition.get("body"))
    approvers = _approvers(where, notes.get("approvers", ""))
    if (outcome is Outcome.NEEDS_APPROVAL) != bool(approvers):
        raise _invalid(
            f'{where}: @approvers("...") goes with @outcome("needs_approval") and only there.'
        )
    return Rule(
        id=rule_id,
        outcome=outcome,
        reason=reason,
        approvers=approvers,
        source=name,
        order=order,
    )


# Cedar's validator knows a fact is a String or a Set<String>, not which words it
# can hold, so `context.use_case == "de-aging"` would validate and never match.
_COMPARISONS = ("==", "!=", "contains", "containsAll", "containsAny")


def _check_words(where: str, node: object) -> None:
    """Refuse a rule that compares a fact with a word the fact can never hold."""
    if isinstance(node, list):
        for item in node:
            _check_words(where, item)
        return
    if not isinstance(node, dict):
        return
    for op, operands in node.items():
        if op in _COMPARISONS and isinstance(operands, dict):
            left, right = operands.get("left"), operands.get("right")
            for fact, other in ((_fact(left), right), (_fact(right), left)):
                words = VOCABULARY.get(fact or "")
                if fact is None or words is None:
                    continue
                unknown = sorted(w for w in _words(other) if w not in words)
                if unknown:
                    named = fact if fact.startswith("resource.") else "context." + fact
                    raise _invalid(
                        f"{where} compares {named} with {', '.join(map(repr, unknown))}, "
                        f"which it never holds; it holds one of {', '.join(sorted(words))}."
                    )
        _check_words(where, operands)


def _fact(node: object) -> str | None:
    """The fact an expression reads: ``use_case`` for ``context.use_case``,
    ``resource.hosting`` for ``resource.hosting``; else None."""
    path: list[str] = []
    while isinstance(node, dict) and "." in node:
        step = node["."]
        path.append(step.get("attr", ""))
        node = step.get("left")
    if not path:
        return None
    if node == {"Var": "context"}:
        return ".".join(reversed(path))
    if node == {"Var": "resource"}:
        return "resource." + ".".join(reversed(path))
    return None


def _words(node: object) -> list[str]:
    """The string literals of a literal or a set literal."""
    if isinstance(node, dict):
        if isinstance(node.get("Value"), str):
            return [node["Value"]]
        if isinstance(node.get("Set"), list):
            return [w for item in node["Set"] for w in _words(item)]
    return []


def _approvers(where: str, text: str) -> tuple[tuple[Role, ...], ...]:
    groups = []
    for group in text.split(";"):
        names = [n.strip() for n in group.split(",") if n.strip()]
        if not names:
            continue
        try:
            groups.append(tuple(Role(n) for n in names))
        except ValueError:
            known = ", ".join(r.value for r in Role)
            raise _invalid(
                f"{where} names an unknown role in @approvers({text!r}); roles are {known}."
            ) from None
    return tuple(groups)


def _invalid(message: str) -> InvalidInput:
    return InvalidInput(message, code="policy.invalid")

"""The policy set: facegate's Cedar schema, the shipped policies and the operator's, evaluated.

Loading validates every policy against the schema; a policy that does not parse, does not
type-check, has no ``@id`` or repeats one is a :class:`PolicyError` naming the file and the
policy, and the server refuses to start with it. The set's version is a hash of the schema,
every policy's text and the settings the policies read (moratorium end, floors), so a decision
recorded with a version can be traced to exactly what decided it.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any

import cedarpy

NAMESPACE = "Facegate"
ENTITY_CACHE_SIZE = 1024  # parsed (principal, resource) entity sets kept for reuse
SHIPPED_SOURCE = "facegate:defaults.cedar"


class PolicyError(Exception):
    """The policy set cannot be loaded (the message says which file and policy, and why)."""


@dataclass(frozen=True)
class Policy:
    id: str
    rule: str  # the catalogue rule it implements (its own id for operator policies without @rule)
    effect: str  # permit or forbid
    advice: str
    error: str  # the error type a denial answers with
    source: str  # file it came from
    text: str
    shipped: bool
    # The actions its scope admits (None: every action). A request is evaluated only against
    # the policies that can apply to its action, which gives the same answer faster.
    actions: frozenset[str] | None = None


@dataclass(frozen=True)
class Evaluation:
    """Cedar's answer to one question: the decision and the policies that produced it."""

    allowed: bool
    policies: tuple[Policy, ...]  # the determining policies (forbids when denied)
    errors: tuple[str, ...]


def _read_shipped(name: str) -> str:
    return (resources.files("facegate.policy") / "cedar" / name).read_text(encoding="utf-8")


def schema_text() -> str:
    return _read_shipped("schema.cedarschema")


def shipped_policies_text() -> str:
    return _read_shipped("defaults.cedar")


def _annotated(text: str, source: str) -> list[tuple[dict[str, str], str, dict[str, Any]]]:
    """(annotations, effect, action scope) of each policy in ``text``, in order; PolicyError
    if unparsable."""
    try:
        parsed = json.loads(cedarpy.policies_to_json_str(text))
    except Exception as exc:  # cedarpy raises ValueError (or its own error) on parse failures
        raise PolicyError(f"{source}: the Cedar text does not parse: {exc}") from None
    static = parsed.get("staticPolicies", {})
    if parsed.get("templates"):
        raise PolicyError(f"{source}: policy templates are not supported; write static policies.")
    ordered = sorted(static.items(), key=lambda item: int(item[0].removeprefix("policy")))
    return [
        (body.get("annotations", {}), body.get("effect", ""), body.get("action", {}))
        for _, body in ordered
    ]


def _split(text: str) -> list[str]:
    """The text of each policy, for display (Cedar's own formatting of it)."""
    try:
        parsed = json.loads(cedarpy.policies_to_json_str(text))
    except Exception:
        return []
    out = []
    for _, body in sorted(
        parsed.get("staticPolicies", {}).items(), key=lambda i: int(i[0].removeprefix("policy"))
    ):
        one = json.dumps({"staticPolicies": {"p": body}, "templates": {}, "templateLinks": []})
        try:
            out.append(cedarpy.format_policies(_json_to_text(one)))
        except Exception:
            out.append(_json_to_text(one))
    return out


def _json_to_text(policies_json: str) -> str:
    return str(cedarpy.policies_from_json_str(policies_json))


class PolicySet:
    """The policies in force, ready to evaluate (parsed once, reused for every request)."""

    def __init__(self, sources: Sequence[tuple[str, str]], settings_fingerprint: str = ""):
        """``sources``: (name, Cedar text) pairs, the shipped defaults first."""
        self.schema_text = schema_text()
        try:
            self._schema = cedarpy.Schema.from_str(self.schema_text)
        except Exception as exc:  # a defect of facegate itself, not of the operator
            raise PolicyError(f"facegate's own Cedar schema does not load: {exc}") from None
        hierarchy = action_parents(self.schema_text)
        policies: list[Policy] = []
        seen: dict[str, str] = {}
        for source, text in sources:
            shipped = source == SHIPPED_SOURCE
            annotated = _annotated(text, source)  # parse errors first, then ids, then types
            texts = _split(text)
            for position, (notes, effect, scope) in enumerate(annotated):
                policy_id = notes.get("id")
                if not policy_id:
                    raise PolicyError(
                        f"{source}: policy number {position + 1} has no @id annotation; every "
                        'policy needs one, e.g. @id("NO-WEEKEND-SEARCH"), so denials can name it.'
                    )
                if policy_id in seen:
                    raise PolicyError(
                        f"{source}: the @id {policy_id!r} is already used in {seen[policy_id]}; "
                        "policy ids must be unique."
                    )
                seen[policy_id] = source
                policies.append(
                    Policy(
                        id=policy_id,
                        rule=notes.get("rule", policy_id),
                        effect=effect,
                        advice=notes.get("advice", ""),
                        error=notes.get("error", "AccessDeniedException"),
                        source=source,
                        text=texts[position] if position < len(texts) else "",
                        shipped=shipped,
                        actions=_admitted(scope, hierarchy),
                    )
                )
            self._validate(source, text)
        self.policies = tuple(policies)
        self._by_id = {p.id: p for p in policies}
        combined = "\n".join(text for _, text in sources)
        self._set = cedarpy.PolicySet.from_str(combined)
        digest = hashlib.sha256()
        named = (f"{Path(s).name}\0{t}" for s, t in sources)  # the same files anywhere
        for part in (self.schema_text, *named, settings_fingerprint):
            digest.update(part.encode())
            digest.update(b"\0")
        self.version = digest.hexdigest()[:16]
        self.actions = frozenset(_action_names(self.schema_text))
        # The action hierarchy as entities, parsed once: requests are evaluated without the
        # schema (every policy was validated against it at load; the entities are facegate's
        # own), which halves Cedar's cost per request.
        self._action_entities = cedarpy.Entities.from_json_str(
            json.dumps(_action_entities(hierarchy))
        )
        self._by_action: dict[str, tuple[cedarpy.PolicySet, tuple[Policy, ...]]] = {}
        self._entity_cache: OrderedDict[str, cedarpy.Entities] = OrderedDict()
        self._cache_lock = threading.Lock()
        self.sources = tuple(name for name, _ in sources)

    def _validate(self, source: str, text: str) -> None:
        result = cedarpy.validate_policies(text, self._schema)
        if result.validation_passed:
            return
        names = result.id_annotations_by_policy_id
        problems, failing = [], set()
        for error in result.errors:
            where = names.get(error.policy_id) or error.policy_id or "?"
            failing.add(where)
            problems.append(f"policy {where}: {error.error}")
        raise PolicyError(
            f"{source}: {len(failing)} "
            f"{'policy does' if len(failing) == 1 else 'policies do'} not validate against "
            "facegate's schema: " + "; ".join(dict.fromkeys(problems))
        )

    def _handle(self, entities: list[dict]) -> cedarpy.Entities:
        """The parsed entity set: the actions plus ``entities`` (recent sets are kept parsed)."""
        key = json.dumps(entities, sort_keys=True)
        with self._cache_lock:
            handle = self._entity_cache.get(key)
            if handle is not None:
                self._entity_cache.move_to_end(key)
                return handle
        handle = self._action_entities.with_added_json_str(key)
        with self._cache_lock:
            self._entity_cache[key] = handle
            if len(self._entity_cache) > ENTITY_CACHE_SIZE:
                self._entity_cache.popitem(last=False)
        return handle

    def policy(self, policy_id: str) -> Policy:
        return self._by_id[policy_id]

    def evaluate(
        self, requests: Sequence[dict[str, Any]], entities: list[dict]
    ) -> list[Evaluation]:
        """Cedar's decisions for ``requests`` (dicts with principal, action, resource, context).

        Each request is evaluated against the policies whose scope admits its action (a
        policy scoped to other actions cannot match, so the answer is the same).
        """
        handle = self._handle(entities)
        out = []
        for request in requests:
            subset, listed = self._for_action(request["action"]["id"])
            result = cedarpy.is_authorized_batch([request], subset, handle)[0]
            names = result.diagnostics.id_annotations_by_reason
            deciding = tuple(
                self._by_id[names[r]] for r in result.diagnostics.reasons if r in names
            )
            problems = tuple(
                re.sub(r"\bpolicy(\d+)\b", partial(_named, listed=listed), str(e))
                for e in result.diagnostics.errors
            )
            out.append(Evaluation(result.allowed, deciding, problems))
        return out

    def _for_action(self, action: str) -> tuple[cedarpy.PolicySet, tuple[Policy, ...]]:
        found = self._by_action.get(action)
        if found is None:
            listed = tuple(p for p in self.policies if p.actions is None or action in p.actions)
            text = "\n".join(p.text for p in listed) or _NOTHING
            found = (cedarpy.PolicySet.from_str(text), listed)
            self._by_action[action] = found
        return found


def _action_names(schema: str) -> list[str]:
    """The operations (actions with appliesTo) the schema declares."""
    names: list[str] = []
    for declaration in re.findall(r"action\s+([^;]*?)\s+(?:in\s+\[[^\]]*\]\s*)?appliesTo", schema):
        names += [n.strip().strip('"') for n in declaration.split(",") if n.strip()]
    return names


_NOTHING = '@id("NOTHING") forbid (principal, action, resource) when { false };'


def _named(match: re.Match[str], listed: tuple[Policy, ...]) -> str:
    """Cedar's internal id ``policyN`` as the policy's @id (N counts in ``listed``)."""
    n = int(match.group(1))
    return listed[n].id if n < len(listed) else match.group(0)


def _admitted(scope: dict[str, Any], parents: dict[str, list[str]]) -> frozenset[str] | None:
    """The actions a policy's action scope admits (None: all of them)."""
    op = scope.get("op", "All")
    if op == "All":
        return None
    if op == "==":
        return frozenset({scope["entity"]["id"]})
    named = [scope["entity"]] if "entity" in scope else scope.get("entities", [])
    groups = {e["id"] for e in named}
    return frozenset(a for a in parents if groups & _ancestry(a, parents))


def _ancestry(action: str, parents: dict[str, list[str]]) -> set[str]:
    """The action and every group above it."""
    seen, todo = set(), [action]
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo += parents.get(current, [])
    return seen


def action_parents(schema: str) -> dict[str, list[str]]:
    """Every action of the schema and the groups it is directly in."""
    parents: dict[str, list[str]] = {}
    for names, groups in re.findall(r"action\s+([^;]*?)\s+in\s+\[([^\]]*)\]", schema):
        for name in (n.strip().strip('"') for n in names.split(",") if n.strip()):
            parents[name] = [g.strip().split("::")[-1].strip('"') for g in groups.split(",")]
    for declaration in re.findall(r"action\s+([^;]*?)\s*(?:appliesTo[^;]*)?;", schema):
        for name in (n.strip().strip('"') for n in declaration.split(",") if n.strip()):
            if " in " not in name and "[" not in name:
                parents.setdefault(name, [])
    return parents


def _action_entities(parents: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Every action as an entity whose parents are its groups."""
    return [
        entity("Action", name, {}, [("Action", g) for g in groups])
        for name, groups in parents.items()
    ]


def operator_sources(directory: Path | None) -> list[tuple[str, str]]:
    """The operator's ``*.cedar`` files of ``directory``, sorted by name (none if it is absent)."""
    if directory is None or not directory.is_dir():
        return []
    return [
        (str(path), path.read_text(encoding="utf-8"))
        for path in sorted(directory.glob("*.cedar"))
        if path.is_file()
    ]


def load_policy_set(directory: Path | None, settings_fingerprint: str = "") -> PolicySet:
    """The shipped defaults plus the operator's policies in ``directory``."""
    sources = [(SHIPPED_SOURCE, shipped_policies_text()), *operator_sources(directory)]
    return PolicySet(sources, settings_fingerprint)


def entity(
    kind: str, uid: str, attrs: dict[str, Any], parents: Iterable[tuple[str, str]] = ()
) -> dict[str, Any]:
    """A Cedar entity in JSON form."""
    return {
        "uid": {"type": f"{NAMESPACE}::{kind}", "id": uid},
        "attrs": attrs,
        "parents": [{"type": f"{NAMESPACE}::{k}", "id": i} for k, i in parents],
    }


def ref(kind: str, uid: str) -> dict[str, str]:
    return {"type": f"{NAMESPACE}::{kind}", "id": uid}


def entity_ref(kind: str, uid: str) -> dict[str, Any]:
    """An attribute value that refers to another entity."""
    return {"__entity": ref(kind, uid)}


def decimal(value: float) -> dict[str, Any]:
    """A Cedar decimal (four places) from a float."""
    return {"__extn": {"fn": "decimal", "arg": f"{value:.4f}"}}


def datetime_value(iso: str) -> dict[str, Any]:
    return {"__extn": {"fn": "datetime", "arg": iso}}

"""What an operation selects: fields collected as execution collects them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    SelectionSetNode,
    VariableNode,
)


@dataclass
class Selection:
    """The fields asked of one object: response key -> the field nodes merged under it."""

    fields: dict[str, list[FieldNode]] = field(default_factory=dict)

    def sub(self, key: str) -> list[SelectionSetNode]:
        return [n.selection_set for n in self.fields[key] if n.selection_set is not None]


def _included(node: Any, variables: Mapping[str, Any]) -> bool:
    for directive in node.directives or ():
        if directive.name.value not in ("skip", "include"):
            continue
        [argument] = directive.arguments
        value: Any = argument.value
        flag = variables.get(value.name.value) if isinstance(value, VariableNode) else value.value
        if (directive.name.value == "skip") == bool(flag):
            return False
    return True


def collect(
    selection_sets: Iterable[SelectionSetNode],
    fragments: Mapping[str, FragmentDefinitionNode],
    variables: Mapping[str, Any],
    type_name: str,
    interfaces: Iterable[str] = (),
) -> Selection:
    """The fields of `selection_sets` on the object type `type_name`, as execution collects
    them: a fragment applies when its condition names the type itself or an interface it
    implements (Node)."""
    selection = Selection()
    applies = {type_name, *interfaces}

    def visit(selection_set: SelectionSetNode) -> None:
        for node in selection_set.selections:
            if not _included(node, variables):
                continue
            if isinstance(node, FieldNode):
                key = node.alias.value if node.alias else node.name.value
                selection.fields.setdefault(key, []).append(node)
            elif isinstance(node, InlineFragmentNode):
                if node.type_condition is None or node.type_condition.name.value in applies:
                    visit(node.selection_set)
            elif isinstance(node, FragmentSpreadNode):
                fragment = fragments[node.name.value]
                if fragment.type_condition.name.value in applies:
                    visit(fragment.selection_set)

    for selection_set in selection_sets:
        visit(selection_set)
    return selection

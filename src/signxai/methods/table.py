"""The method table of the README and the CLI, written from the registry."""

from __future__ import annotations

from signxai.methods.lrp import INPUT_RULES, LAYER_RULES
from signxai.methods.registry import families


def method_table() -> str:
    """Markdown tables of every registered family, LRP layer rule and LRP input-layer rule."""
    lines = [
        "| family | name form | kind | parameters (default) | definition |",
        "|---|---|---|---|---|",
    ]
    for family in families():
        params = ", ".join(f"`{p.name}`={p.default!r}" for p in family.params) or "-"
        form = family.form.replace("|", "\\|")
        lines.append(f"| {family.name} | `{form}` | {family.kind} | {params} | {family.summary} |")
    lines += [
        "",
        "Gradient-type families also take the suffixes `_x_input`, `_x_sign`, `_x_sign_mu_<m>`.",
        "",
        "| LRP rule (Linear/Conv layers) | name part | definition |",
        "|---|---|---|",
    ]
    for rule in LAYER_RULES.values():
        lines.append(f"| {rule.name} | `{rule.example}` | {rule.summary} |")
    lines += ["", "| LRP prefix | first-layer rule |", "|---|---|"]
    for prefix, (_, summary) in INPUT_RULES.items():
        lines.append(f"| `{prefix}_` | {summary} |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(method_table())

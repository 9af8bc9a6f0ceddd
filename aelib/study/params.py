"""Notebook parameters as papermill hands them over: list parameters given as strings made into lists.

papermill's ``-p name value`` passes ``value`` as a string (or a number or bool when it looks like one), so
``-p families '["fcae"]'``, ``-p z_values 2,40`` or ``-p seeds 0`` reach a notebook as ``'["fcae"]'``,
``'2,40'`` and ``0``. :func:`as_list` turns such values into the list the code takes, or refuses them with
a message that shows papermill's YAML form (``-y 'families: [fcae]'``), which passes real lists. The
generated notebooks call it on every list parameter right after their parameters cell
(:data:`LIST_PARAMETERS` says which, and of what).
"""
from __future__ import annotations

import ast
import json
from typing import Any

#: Every list parameter of the generated notebooks and the type of its items. ``families`` also takes "all".
LIST_PARAMETERS: dict[str, type] = {
    "families": str,
    "seeds": int,
    "z_values": int,
    "depths": int,
    "arch_families": str,
    "tune_learning_rates": float,
    "umap_z": int,
    "complementary": str,
    "levels": float,
    "modes": str,
    "aug_seeds": int,
    "aug_latent_dim": int,
    "perturbations": float,
    "thresholds": int,
    "chosen_z": int,
    "matched": str,
    "matched_z": int,
    "matched_seeds": int,
}
#: Words that a list parameter may hold instead of a list (kept as they are): ``families = "all"``.
KEEP: dict[str, tuple[str, ...]] = {"families": ("all",)}


def _yaml_form(name: str, items: list) -> str:
    shown = ", ".join(str(v) for v in items) if items else "..."
    return f"-y '{name}: [{shown}]'"


def _item(name: str, value: Any, item_type: type, received: Any) -> Any:
    """One item as ``item_type``: "2" → 2 for ints, "0.1" → 0.1 for floats, a str kept; else a ValueError."""
    if isinstance(value, str):
        value = value.strip().strip("'\"").strip()
        if item_type is str:
            if value:
                return value
        else:
            try:
                return item_type(value) if item_type is float else int(value, 10)
            except ValueError:
                pass
    elif isinstance(value, bool):
        pass  # True is an int to Python, never a latent size or seed
    elif item_type is float and isinstance(value, (int, float)):
        return float(value)
    elif item_type is int and isinstance(value, int):
        return value
    elif item_type is int and isinstance(value, float) and value.is_integer():
        return int(value)
    raise ValueError(f"Expected {name} as a list of {item_type.__name__} values, e.g. {_yaml_form(name, [])} on "
                     f"papermill's command line. Received: {name}={received!r} (the item {value!r} is not a "
                     f"{item_type.__name__})")


def as_list(name: str, value: Any, item_type: type = str, *, keep: tuple[str, ...] | None = None) -> Any:
    """``value`` of list parameter ``name`` as a list of ``item_type``.

    A list or tuple is checked item by item. A string is read as a list literal (``'["fcae", "vae"]'``,
    ``"[2, 40]"``, JSON or Python) or as comma-separated items (``"fcae,vae"``, ``"2,40"``); a single number
    (papermill's ``-p seeds 0``) is a list of one. The words in ``keep`` (default :data:`KEEP` of ``name``,
    e.g. "all" for families) are returned unchanged.

    Raises:
        ValueError: a value that is not such a list, naming it and showing the ``-y 'name: [...]'`` form.
    """
    keep = KEEP.get(name, ()) if keep is None else keep
    if isinstance(value, str) and value.strip() in keep:
        return value.strip()
    items = value
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError(f"Expected {name} as a list, e.g. {_yaml_form(name, [])} on papermill's command line. "
                             f"Received: {name}={value!r}")
        if text.startswith(("[", "(")):
            try:
                items = json.loads(text)
            except ValueError:
                try:
                    items = ast.literal_eval(text)
                except (ValueError, SyntaxError):
                    # [fcae, vae]: a YAML-style list without quotes, as -y writes it
                    items = [part for part in text.strip("[]()").split(",") if part.strip()]
        else:
            items = [part for part in text.split(",") if part.strip()]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        items = [value]
    if not isinstance(items, (list, tuple)):
        raise ValueError(f"Expected {name} as a list, e.g. {_yaml_form(name, [])} on papermill's command line "
                         f"(-p passes strings). Received: {name}={value!r}")
    return [_item(name, item, item_type, value) for item in items]


def as_lists(parameters: dict[str, Any]) -> dict[str, Any]:
    """Every list parameter of ``parameters`` (the names of :data:`LIST_PARAMETERS`) through :func:`as_list`;
    the other values unchanged. A notebook calls ``globals().update(as_lists(...))``."""
    return {name: as_list(name, value, LIST_PARAMETERS[name]) if name in LIST_PARAMETERS else value
            for name, value in parameters.items()}

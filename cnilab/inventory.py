"""A lab's pyinfra inventory read outside pyinfra (verify, the CLI): which declaration
its `@cnilab/` hosts name, and where they are placed (cnilab/placement.py)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .backends import get_backend
from .backends.placed import PlacedBackend
from .model import load_lab
from .model.lab import Lab
from .placement import Placement, PlacementError, placement_of


class InventoryError(ValueError):
    pass


@dataclass
class LabInventory:
    path: Path
    lab: Lab
    data: dict
    placement: Placement

    @property
    def backend_name(self) -> str:
        return self.data.get("backend") or self.lab.decl.backend

    def backend(self) -> PlacedBackend:
        """The lab as one backend over its machines (no machine contacted yet)."""
        return PlacedBackend(
            self.backend_name,
            {n.name: get_backend(self.backend_name, self.placement.machine_of(n.name)) for n in self.lab.nodes},
        )


def _lab_groups(path: Path) -> list[tuple[str, dict]]:
    """(`@cnilab/...` host, group data) of every group of the inventory file, read as
    pyinfra reads it: module-level lists or (hosts, data) tuples not named with `_`."""
    scope: dict = {"__file__": str(path.resolve()), "__name__": "cnilab_inventory"}
    exec(compile(path.read_text(), str(path), "exec"), scope)
    found = []
    for name, value in scope.items():
        if name.startswith("_") or not isinstance(value, (list, tuple)):
            continue
        hosts, data = value, {}
        if isinstance(value, tuple) and len(value) == 2 and isinstance(value[1], dict):
            hosts, data = value
        for h in hosts if isinstance(hosts, (list, tuple)) else ():
            hname, hdata = (h, {}) if isinstance(h, str) else (h[0], h[1]) if isinstance(h, tuple) and len(h) == 2 else (None, {})
            if isinstance(hname, str) and hname.startswith("@cnilab/"):
                found.append((hname, {**data, **hdata}))
    return found


def read_inventory(path: str | Path) -> LabInventory:
    """The lab of a lab's pyinfra inventory file (its one `@cnilab/<declaration>` host)."""
    from .model import DeclarationError

    path = Path(path)
    if not path.is_file():
        raise InventoryError(f"inventory {path} does not exist")
    try:
        groups = _lab_groups(path)
    except PlacementError as e:
        raise InventoryError(f"inventory {path}: {e}") from None
    except Exception as e:  # an inventory is Python: its own errors say what is wrong
        raise InventoryError(f"inventory {path}: {type(e).__name__}: {e}") from None
    if not groups:
        raise InventoryError(f"inventory {path} names no lab: it needs an @cnilab/<declaration>.yaml host")
    if len({h for h, _ in groups}) > 1:
        raise InventoryError(f"inventory {path} names {len(groups)} labs: give one lab per inventory")
    host, data = groups[0]
    try:
        lab = load_lab(host.removeprefix("@cnilab/"))
    except DeclarationError as e:
        raise InventoryError(f"inventory {path}: {e}") from None
    data = {k: data[k] for k in ("cnilab_machines", "cnilab_placement", "backend") if data.get(k) is not None}
    try:
        placement = placement_of(lab, data)
    except PlacementError as e:
        raise InventoryError(f"inventory {path}: {e}") from None
    return LabInventory(path, lab, data, placement)

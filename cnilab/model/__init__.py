"""The lab model: a declaration in, a lab and its expected kernel state out (no I/O but reading the file)."""

from __future__ import annotations

from pathlib import Path

from .declaration import Declaration, DeclarationError, load_declaration, parse_declaration
from .lab import Lab, build_lab

__all__ = ["Declaration", "DeclarationError", "Lab", "build_lab", "load_declaration", "parse_declaration", "load_lab", "resolve_declaration", "REPO_ROOT"]

REPO_ROOT = Path(__file__).resolve().parents[2]
INVENTORIES = REPO_ROOT / "inventories"


def resolve_declaration(name_or_path: str | Path) -> Path:
    """`cilium_vxlan`, `inventories/cilium_vxlan.yaml` or `inventories/cilium_vxlan.py` -> the YAML file."""
    p = Path(name_or_path)
    if p.suffix == ".py":
        p = p.with_suffix(".yaml")
    if p.suffix in (".yaml", ".yml"):
        if p.exists():
            return p
        raise DeclarationError(f"{p}: no such declaration")
    candidate = INVENTORIES / f"{p.name}.yaml"
    if candidate.exists():
        return candidate
    known = ", ".join(sorted(f.stem for f in INVENTORIES.glob("*.yaml")))
    raise DeclarationError(f"no lab declaration named {str(name_or_path)!r} (known: {known})")


def load_lab(name_or_path: str | Path) -> Lab:
    path = resolve_declaration(name_or_path)
    return build_lab(load_declaration(path), path.stem)

"""tc clsact qdiscs and BPF filters, from `tc -j`."""

from __future__ import annotations

import json

from pyinfra.api import FactBase
from pyinfra.api.exceptions import FactProcessError

from ..layout import ATTACH_DIR, NODE_OBJECT_DIR
from ._combine import joined, parse, split



class BpfFilters(FactBase):
    """
    BPF filters on the clsact hooks of every link of the node:

    .. code:: python

        {("cilium_vxlan", "egress"): [{"pref": 1, "handle": "0x1", "name": "bpf_overlay.o:[to-overlay]",
                                       "id": 8264, "prog": "cil_to_overlay", "tag": "5f26d5ede04f0820",
                                       "jited": True, "direct_action": True}]}

    Hooks without a BPF filter map to an empty list.
    """

    @staticmethod
    def default():
        return {}

    def command(self):
        # The node's devices on one line, then one `tc -batch` (one process, not two per
        # device) printing a JSON line per hook: ingress and egress of each device in turn.
        return (
            "devs=; for d in /sys/class/net/*/; do d=${d%/}; devs=\"$devs ${d##*/}\"; done; echo $devs; "
            "for d in $devs; do echo \"filter show dev $d ingress\"; echo \"filter show dev $d egress\"; done "
            "| tc -j -force -batch - 2>/dev/null; true"
        )

    def process(self, output):
        if not output:
            return {}
        devs, lines = output[0].split(), [line for line in output[1:] if line.strip()]
        if len(lines) != 2 * len(devs):
            # A device went away while tc listed the others: the lines no longer pair up.
            raise FactProcessError(f"tc printed {len(lines)} filter lists for {len(devs)} devices ({' '.join(devs)})")
        hooks = {}
        for i, rest in enumerate(lines):
            dev, direction = devs[i // 2], ("ingress", "egress")[i % 2]
            filters = []
            for f in json.loads(rest or "[]"):
                opts = f.get("options")
                if f.get("kind") != "bpf" or not opts:
                    continue
                prog = opts.get("prog", {})
                filters.append(
                    {
                        "pref": f.get("pref"),
                        "handle": opts.get("handle"),
                        "name": opts.get("bpf_name"),
                        "id": prog.get("id"),
                        "prog": prog.get("name"),
                        "tag": prog.get("tag"),
                        "jited": bool(prog.get("jited")),
                        "direct_action": bool(opts.get("direct-action")),
                    }
                )
            hooks[(dev, direction)] = filters
        return hooks


class AttachRecords(FactBase):
    """
    What the lab attached last, per hook: ``{("cilium_vxlan", "egress"): {"hash": "ab12...", "id": 8264}}``.

    A filter is ours and current when its program id is the one recorded with the
    content hash of the object we want there.
    """

    @staticmethod
    def default():
        return {}

    def command(self):
        return f"cd {ATTACH_DIR} 2>/dev/null && for f in *; do [ -f \"$f\" ] && printf '%s %s\\n' \"$f\" \"$(cat \"$f\")\"; done; true"

    def process(self, output):
        records = {}
        for line in output:
            parts = line.split()
            if len(parts) != 3 or "." not in parts[0]:
                continue
            dev, direction = parts[0].rsplit(".", 1)
            records[(dev, direction)] = {"hash": parts[1], "id": int(parts[2]) if parts[2].isdigit() else None}
        return records


class BpfObjects(FactBase):
    """Content hashes of the compiled objects present in the node: ``{"ab12...", ...}``."""

    @staticmethod
    def default():
        return set()

    def command(self):
        return f"ls {NODE_OBJECT_DIR} 2>/dev/null || true"

    def process(self, output):
        return {line.strip() for line in output if line.strip()}


class Datapath(FactBase):
    """
    What attaching the datapath needs to know, in one round trip: the node's links, the
    objects it holds, the BPF filters on its hooks, the attach records and the pinned maps:
    ``{"links": Links, "objects": BpfObjects, "filters": BpfFilters, "records": AttachRecords,
    "pins": PinnedMaps}``.
    """

    PARTS = ("links", "objects", "filters", "records", "pins")

    @staticmethod
    def _facts():
        from .bpf import PinnedMaps
        from .ip import Links

        return [Links(), BpfObjects(), BpfFilters(), AttachRecords(), PinnedMaps()]

    @classmethod
    def default(cls):
        return {k: f.default() for k, f in zip(cls.PARTS, cls._facts())}

    def command(self):
        return joined([f.command() for f in self._facts()])

    def process(self, output):
        parts = split(output) + [[]] * len(self.PARTS)
        return {k: parse(f, lines) for k, f, lines in zip(self.PARTS, self._facts(), parts)}

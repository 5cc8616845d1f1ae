"""Names Calico derives from other names (pure functions, no I/O).

Each rule is the one Calico v3.16 applies (see reference/calico.md §0, §1.1, §1.6, §2.5, §3.1),
so a lab's interfaces, endpoints and BGP protocols carry the names a real node would show.
"""

from __future__ import annotations

import hashlib
import ipaddress

# The host side of every pod veth gets this fixed MAC (CNI plugin); the pod's gateway is answered by
# proxy ARP on that veth, so the pod's neighbour table shows this MAC for POD_GATEWAY.
HOST_VETH_MAC = "ee:ee:ee:ee:ee:ee"
POD_GATEWAY = "169.254.1.1"

# Linux interface names are at most IFNAMSIZ-1 = 15 bytes; Calico keeps prefix + 11 hex chars.
_IFNAME_MAX = 15
_VETH_HASH_CHARS = 11

# BGP protocol name prefix -> `calicoctl node status` peer type (calicoctl/commands/node/status.go).
PEER_KINDS = {
    "Mesh": "node-to-node mesh",
    "Node": "node specific",
    "Global": "global",
}


def veth_name(namespace: str, pod: str, prefix: str = "cali") -> str:
    """Host-side veth name of a pod: prefix + first 11 hex chars of sha1("<ns>.<pod>")."""
    if not namespace or not pod:
        raise ValueError("veth_name needs a non-empty namespace and pod name")
    digest = hashlib.sha1(f"{namespace}.{pod}".encode()).hexdigest()
    name = prefix + digest[:_VETH_HASH_CHARS]
    if len(name) > _IFNAME_MAX:
        # Calico would hand the kernel a name it rejects; fail early and say why.
        raise ValueError(f"interface prefix {prefix!r} makes {name!r} longer than {_IFNAME_MAX} characters")
    return name


def _escape_dashes(segment: str) -> str:
    # libcalico-go doubles every '-' inside a segment so that the single '-' between segments
    # stays an unambiguous separator.
    return segment.replace("-", "--")


def workload_endpoint_name(node: str, pod: str, iface: str = "eth0", orchestrator: str = "k8s") -> str:
    """WorkloadEndpoint resource name: <node>-<orchestrator>-<pod>-<iface>, dashes doubled per segment."""
    parts = (node, orchestrator, pod, iface)
    if not all(parts):
        raise ValueError("workload_endpoint_name needs non-empty node, orchestrator, pod and interface")
    return "-".join(_escape_dashes(p) for p in parts)


def vxlan_mac(node_name: str) -> str:
    """MAC of a node's vxlan.calico VTEP: byte 0x66 ('f') then the first 5 bytes of sha1(node name)."""
    raw = b"f" + hashlib.sha1(node_name.encode()).digest()[:5]
    return ":".join(f"{b:02x}" for b in raw)


def bgp_peer_name(kind: str, ip: str, port: int | None = None) -> str:
    """BIRD protocol name confd gives a peer: "<Kind>_<ip with . as _>", "_port_<n>" for a global/node peer port."""
    if kind not in PEER_KINDS:
        raise ValueError(f"BGP peer kind must be one of {sorted(PEER_KINDS)}, not {kind!r}")
    address = ipaddress.IPv4Address(ip)  # IPv4 only: this module models the v4 BIRD instance.
    name = f"{kind}_{str(address).replace('.', '_')}"
    if port is not None:
        if kind == "Mesh":
            # Mesh peers take the listen port in the neighbor line, never in the name.
            raise ValueError("a port suffix only exists for Global_/Node_ peers")
        name += f"_port_{port}"
    return name


def peer_kind(protocol_name: str) -> str | None:
    """The `node status` peer type for a BIRD protocol name, or None when it is not a Calico peer."""
    head, sep, tail = protocol_name.partition("_")
    if not sep or not tail or head not in PEER_KINDS:
        return None
    return PEER_KINDS[head]

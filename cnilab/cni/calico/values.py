"""The `cni:` block of a Calico lab: what a Calico v3.16 user sets.

- ``env``: the calico-node container's environment (the manifest's pool settings);
- ``config``: the ``calico-config`` ConfigMap (``calico_backend``, ``veth_mtu``);
- ``resources``: Calico's own resources, written as a user would ``calicoctl apply`` them
  (IPPool, BGPConfiguration, BGPPeer, Node);
- ``blocks`` (lab-only): the /26 each node's IPAM claimed, where a seed shows them
  (Calico picks them with Go's math/rand seeded by the node name).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from ...model.declaration import OpenBlock, StrictBlock, check_name
from .ipam import MAX_BLOCK_SIZE, MIN_BLOCK_SIZE

EncapMode = Literal["Always", "CrossSubnet", "Never"]


class CalicoEnv(OpenBlock):
    """calico-node's environment (unknown variables are kept, for rendering)."""

    CALICO_IPV4POOL_CIDR: str = "192.168.0.0/16"
    CALICO_IPV4POOL_IPIP: EncapMode = "Always"
    CALICO_IPV4POOL_VXLAN: EncapMode = "Never"
    CALICO_IPV4POOL_BLOCK_SIZE: int = 26
    CALICO_IPV4POOL_NAT_OUTGOING: bool = True

    @field_validator("CALICO_IPV4POOL_CIDR")
    @classmethod
    def _cidr(cls, v: str) -> str:
        ipaddress.IPv4Network(v, strict=True)
        return v

    @field_validator("CALICO_IPV4POOL_BLOCK_SIZE")
    @classmethod
    def _block_size(cls, v: int) -> int:
        if not MIN_BLOCK_SIZE <= v <= MAX_BLOCK_SIZE:
            raise ValueError(f"IPv4 block size must be between {MIN_BLOCK_SIZE} and {MAX_BLOCK_SIZE} (got {v})")
        return v


class CalicoConfig(OpenBlock):
    """The calico-config ConfigMap (v3.16 manifest)."""

    calico_backend: Literal["bird", "vxlan", "none"] = "bird"
    # The manifest's "1440" (IPIP) / "1410" (VXLAN); 0 = detect, as v3.17+ does.
    veth_mtu: int = 1440


class ResourceMeta(StrictBlock):
    name: str
    labels: dict[str, str] = Field(default_factory=dict)


class IPPoolSpec(StrictBlock):
    cidr: str
    ipipMode: EncapMode = "Never"
    vxlanMode: EncapMode = "Never"
    natOutgoing: bool = False
    blockSize: int = 26
    disabled: bool = False
    nodeSelector: str = "all()"

    @field_validator("cidr")
    @classmethod
    def _cidr(cls, v: str) -> str:
        ipaddress.IPv4Network(v, strict=True)
        return v

    @field_validator("blockSize")
    @classmethod
    def _block_size(cls, v: int) -> int:
        if not MIN_BLOCK_SIZE <= v <= MAX_BLOCK_SIZE:
            raise ValueError(f"IPv4 block size must be between {MIN_BLOCK_SIZE} and {MAX_BLOCK_SIZE} (got {v})")
        return v


class IPPool(StrictBlock):
    apiVersion: Literal["projectcalico.org/v3"]
    kind: Literal["IPPool"]
    metadata: ResourceMeta
    spec: IPPoolSpec


# BGP AS numbers are 32 bits; 0 is reserved (RFC 7607).
AsNumber = Annotated[int, Field(ge=1, le=4294967295)]


class BGPConfigurationSpec(StrictBlock):
    nodeToNodeMeshEnabled: bool = True
    asNumber: AsNumber | None = None
    logSeverityScreen: str | None = None


class BGPConfiguration(StrictBlock):
    apiVersion: Literal["projectcalico.org/v3"]
    kind: Literal["BGPConfiguration"]
    metadata: ResourceMeta
    spec: BGPConfigurationSpec


class BGPPeerSpec(StrictBlock):
    nodeSelector: str | None = None
    peerSelector: str | None = None
    node: str | None = None
    peerIP: str | None = None
    asNumber: AsNumber | None = None

    @model_validator(mode="after")
    def _selectors(self) -> BGPPeerSpec:
        if self.peerSelector is None:
            raise ValueError("peerSelector: the lab's BGPPeers select the nodes they peer with (peerIP peers are outside the lab)")
        for sel in (self.nodeSelector, self.peerSelector):
            if sel is not None:
                parse_selector(sel)
        return self


class BGPPeer(StrictBlock):
    apiVersion: Literal["projectcalico.org/v3"]
    kind: Literal["BGPPeer"]
    metadata: ResourceMeta
    spec: BGPPeerSpec


class NodeBGP(StrictBlock):
    routeReflectorClusterID: str | None = None
    asNumber: AsNumber | None = None

    @field_validator("routeReflectorClusterID")
    @classmethod
    def _cluster_id(cls, v: str | None) -> str | None:
        if v is not None:
            ipaddress.IPv4Address(v)
        return v


class NodeSpec(StrictBlock):
    bgp: NodeBGP = NodeBGP()


class CalicoNodeResource(StrictBlock):
    """`calicoctl patch node`/`kubectl label node`, written as the Node resource."""

    apiVersion: Literal["projectcalico.org/v3"]
    kind: Literal["Node"]
    metadata: ResourceMeta
    spec: NodeSpec = NodeSpec()


RESOURCE_KINDS = {"IPPool": IPPool, "BGPConfiguration": BGPConfiguration, "BGPPeer": BGPPeer, "Node": CalicoNodeResource}


class CniCalico(StrictBlock):
    plugin: Literal["calico"]
    version: str = "v3.16.3"
    env: CalicoEnv = CalicoEnv()
    config: CalicoConfig = CalicoConfig()
    # calicoctl's resources, told apart by kind (an error names the resource, not a union).
    resources: list[Annotated[IPPool | BGPConfiguration | BGPPeer | CalicoNodeResource, Field(discriminator="kind")]] = Field(
        default_factory=list
    )
    blocks: dict[str, str] = Field(default_factory=dict)

    @field_validator("blocks")
    @classmethod
    def _blocks(cls, v: dict[str, str]) -> dict[str, str]:
        for node, block in v.items():
            check_name(node, "blocks: node name")
            ipaddress.IPv4Network(block, strict=True)
        return v

    @model_validator(mode="after")
    def _encapsulation(self) -> CniCalico:
        for pool in self.pools():
            if pool["ipipMode"] != "Never" and pool["vxlanMode"] != "Never":
                raise ValueError(f"pool {pool['cidr']}: IPIP ({pool['ipipMode']}) and VXLAN ({pool['vxlanMode']}) cannot both be enabled")
        if len(self.pools()) != 1:
            raise ValueError("resources: the lab takes exactly one IPPool (the default pool, or one IPPool resource)")
        return self

    def pools(self) -> list[dict]:
        """The IP pools: IPPool resources, else the default pool calico-node makes from its env."""
        given = [r.spec.model_dump() for r in self.resources if isinstance(r, IPPool) and not r.spec.disabled]
        if given:
            return given
        e = self.env
        return [{
            "cidr": e.CALICO_IPV4POOL_CIDR,
            "ipipMode": e.CALICO_IPV4POOL_IPIP,
            "vxlanMode": e.CALICO_IPV4POOL_VXLAN,
            "natOutgoing": e.CALICO_IPV4POOL_NAT_OUTGOING,
            "blockSize": e.CALICO_IPV4POOL_BLOCK_SIZE,
        }]


# --- Calico's label selectors (the subset BGPPeers use) -------------------------------------

_TERM = re.compile(
    r"""^\s*(?:
        (?P<all>all\(\s*\))
      | (?P<neg>!)?\s*has\(\s*(?P<has>[A-Za-z0-9./_-]+)\s*\)
      | (?P<key>[A-Za-z0-9./_-]+)\s*(?P<op>==|!=)\s*(?P<q>['"])(?P<value>[^'"]*)(?P=q)
    )\s*$""",
    re.X,
)


def parse_selector(selector: str) -> list[dict]:
    """Terms of a selector joined by ``&&``: ``all()``, ``has(k)``, ``!has(k)``, ``k == 'v'``, ``k != 'v'``."""
    terms = []
    for part in selector.split("&&"):
        m = _TERM.match(part)
        if not m:
            raise ValueError(
                f"selector {selector!r}: {part.strip()!r} is not a term the lab takes "
                "(all(), has(k), !has(k), k == 'v', k != 'v', joined by &&)"
            )
        terms.append({k: v for k, v in m.groupdict().items() if v is not None})
    return terms


def selects(selector: str | None, labels: dict[str, str]) -> bool:
    """Whether ``selector`` (None: every node) matches a node with ``labels``."""
    if selector is None:
        return True
    for t in parse_selector(selector):
        if "all" in t:
            continue
        if "has" in t:
            if (t["has"] in labels) == bool(t.get("neg")):
                return False
        elif (labels.get(t["key"]) == t["value"]) != (t["op"] == "=="):
            return False
    return True

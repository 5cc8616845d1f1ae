"""The IP-in-IP stand-in's programs for one node (this kernel has no ipip module: tunl0 is
an ifb whose tc programs carry genuine protocol-4 packets, calico.md §6): the object is
compiled once as a template and each node's copy has its values written in."""

from __future__ import annotations

from functools import partial

from ...operations.tc import Hook, Program
from . import ipip
from .plan import TUNL0, CalicoLab

SOURCES = ipip.SOURCES
DEVICES = (TUNL0, "eth0")


def programs(c: CalicoLab, node: str, links: dict) -> list[Program]:
    cfg = ipip.IpipConfig(str(c.node(node).ip), links["eth0"]["ifindex"], links[TUNL0]["ifindex"], links[TUNL0]["mac"])
    values = cfg.values()
    # The values as a header beside the object: they make the digest, and say what it holds.
    headers = {"ipip_config.h": "".join(f"/* {k} = {v.hex()} */\n" for k, v in values.items())}
    digest = SOURCES.target("bpf_ipip", headers).parent.name
    build = partial(SOURCES.build_object, "bpf_ipip", headers, {}, values)
    return [
        Program(Hook(TUNL0, "egress", ipip.ENCAP_SECTION, f"{ipip.OBJECT_NAME}:[{ipip.ENCAP_SECTION}]"), digest, ipip.OBJECT_NAME, build),
        Program(Hook("eth0", "ingress", ipip.DECAP_SECTION, f"{ipip.OBJECT_NAME}:[{ipip.DECAP_SECTION}]"), digest, ipip.OBJECT_NAME, build),
    ]

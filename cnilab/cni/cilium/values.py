"""The `cni:` block of a Cilium lab: the chart version and the Helm values of the seeds."""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ...model.declaration import OpenBlock, StrictBlock, check_name

class CiliumIpamOperator(OpenBlock):
    clusterPoolIPv4PodCIDRList: list[str] = Field(default_factory=lambda: ["10.0.0.0/8"])
    clusterPoolIPv4MaskSize: int = Field(default=24, ge=16, le=28)

    @field_validator("clusterPoolIPv4PodCIDRList")
    @classmethod
    def _pool(cls, v: list[str]) -> list[str]:
        if len(v) != 1:
            raise ValueError("exactly one IPv4 pod CIDR is supported")
        ipaddress.IPv4Network(v[0], strict=True)
        return v


class CiliumIpam(OpenBlock):
    mode: Literal["cluster-pool"] = "cluster-pool"
    operator: CiliumIpamOperator = CiliumIpamOperator()


class CiliumBpf(OpenBlock):
    masquerade: bool = False


class CiliumNodePort(OpenBlock):
    # Helm's nodePort.enabled: NodePort in BPF. Strict kube-proxy replacement implies it;
    # partial (seed 001: `enable-node-port: "false"`) leaves NodePort to kube-proxy.
    enabled: bool = False


class CiliumCluster(OpenBlock):
    name: str = "default"
    id: int = Field(default=0, ge=0, le=255)

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return check_name(v, "cluster.name")


class CiliumValues(OpenBlock):
    tunnel: Literal["vxlan", "disabled"] = "vxlan"
    kubeProxyReplacement: Literal["strict", "partial", "probe", "disabled"] = "disabled"
    autoDirectNodeRoutes: bool = False
    ipv4NativeRoutingCIDR: str | None = None
    enableIPv4Masquerade: bool = True
    ipam: CiliumIpam = CiliumIpam()
    bpf: CiliumBpf = CiliumBpf()
    nodePort: CiliumNodePort = CiliumNodePort()
    cluster: CiliumCluster = CiliumCluster()
    k8sServicePort: int = 6443

    @field_validator("ipv4NativeRoutingCIDR")
    @classmethod
    def _cidr(cls, v: str | None) -> str | None:
        if v is not None:
            ipaddress.IPv4Network(v, strict=True)
        return v

    @model_validator(mode="before")
    @classmethod
    def _no_service_host(cls, data: Any) -> Any:
        if isinstance(data, dict) and "k8sServiceHost" in data:
            raise ValueError("k8sServiceHost is the control-plane's IP, filled in when rendering: remove it")
        return data

    @model_validator(mode="after")
    def _modes(self) -> CiliumValues:
        if self.tunnel == "disabled" and not self.ipv4NativeRoutingCIDR:
            raise ValueError("tunnel=disabled (native routing) needs ipv4NativeRoutingCIDR")
        return self


class CniCilium(StrictBlock):
    plugin: Literal["cilium"]
    version: str = "1.13.0-rc5"
    values: CiliumValues = CiliumValues()

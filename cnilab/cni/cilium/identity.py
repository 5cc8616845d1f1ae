"""Cilium's security identities: the reserved ones, and the range label identities take."""

IDENTITY_MIN = 256
IDENTITY_MAX = 65535

# Cilium 1.13's reserved identities (pkg/identity/numericidentity.go).
ID_HOST = 1
ID_WORLD = 2
ID_UNMANAGED = 3
ID_HEALTH = 4
ID_INIT = 5
ID_REMOTE_NODE = 6
ID_KUBE_APISERVER = 7
ID_INGRESS = 8

# Their labels as `cilium identity list` prints them (seed 000): kube-apiserver carries
# remote-node's label too.
RESERVED_LABELS: dict[int, tuple[str, ...]] = {
    ID_HOST: ("reserved:host",),
    ID_WORLD: ("reserved:world",),
    ID_UNMANAGED: ("reserved:unmanaged",),
    ID_HEALTH: ("reserved:health",),
    ID_INIT: ("reserved:init",),
    ID_REMOTE_NODE: ("reserved:remote-node",),
    ID_KUBE_APISERVER: ("reserved:kube-apiserver", "reserved:remote-node"),
    ID_INGRESS: ("reserved:ingress",),
}

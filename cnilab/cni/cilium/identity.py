"""Cilium's security identities: the reserved ones, and the range label identities take."""

IDENTITY_MIN = 256
IDENTITY_MAX = 65535

# Cilium's reserved identities.
ID_HOST = 1
ID_WORLD = 2
ID_REMOTE_NODE = 6

"""/etc/cni/net.d/10-calico.conflist as Calico v3.16's install-cni writes it (calico.md §5).

install-cni substitutes __KUBERNETES_NODE_NAME__, __CNI_MTU__, __KUBECONFIG_FILEPATH__ (and the
log/datastore placeholders) into the manifest's ``cni_network_config`` and writes the result
verbatim: the manifest's two-space layout, the one-line "capabilities" objects, and no trailing
newline (the ConfigMap value is a ``|-`` block).
"""

from __future__ import annotations

import json

from cnilab.templating import environment

CONFLIST_NAME = "10-calico.conflist"
KUBECONFIG_PATH = "/etc/cni/net.d/calico-kubeconfig"
# Binaries install-cni adds to /opt/cni/bin next to the reference plugins.
CALICO_BINARIES = ("calico", "calico-ipam")


def render_conflist(
    nodename: str,
    mtu: int,
    kubeconfig: str = KUBECONFIG_PATH,
    log_level: str = "info",
    log_file_path: str = "/var/log/calico/cni/cni.log",
    datastore_type: str = "kubernetes",
) -> str:
    """The conflist text for one node; validated as JSON like install-cni does before writing."""
    if not isinstance(mtu, int) or mtu < 0:
        raise ValueError(f"CNI mtu must be a non-negative integer (0 = auto in v3.17+), not {mtu!r}")
    text = environment("calico").get_template(f"{CONFLIST_NAME}.j2").render(
        nodename=nodename,
        mtu=mtu,
        kubeconfig=kubeconfig,
        log_level=log_level,
        log_file_path=log_file_path,
        datastore_type=datastore_type,
    )
    json.loads(text)  # install-cni refuses to write invalid JSON; so do we (e.g. a quote in a name)
    return text

"""What a real Calico v3.16 cluster holds beside the kind spec: the calico-node settings,
each node's `10-calico.conflist`, and the BIRD configurations (Calico's own confd files,
to diff against a real node, and the BIRD 2 translation the lab runs)."""

from __future__ import annotations

import yaml

from . import bird, cniconf
from .plan import CalicoLab


def calico_settings(c: CalicoLab) -> str:
    """The calico-config ConfigMap data, calico-node's env, and the Calico resources, as declared."""
    values = c.decl.cni
    doc = {
        "calico-config": {k: str(v) for k, v in values.config.model_dump(mode="json").items()},
        "calico-node env": values.env.model_dump(mode="json"),
    }
    out = yaml.safe_dump(doc, sort_keys=False)
    resources = [r.model_dump(mode="json", exclude_unset=True) for r in values.resources]
    if resources:
        out += "---\n" + yaml.safe_dump_all(resources, sort_keys=False)
    return out


def render(c: CalicoLab) -> dict[str, str]:
    files = {"calico/settings.yaml": calico_settings(c)}
    for n in c.nodes:
        files[f"calico/{n.k8s_name}/{cniconf.CONFLIST_NAME}"] = cniconf.render_conflist(n.k8s_name, c.mode.mtu)
        if c.mode.bird:
            cfg = c.bird_input(n.name)
            for name, text in bird.render_v316(cfg).items():
                files[f"calico/{n.k8s_name}/confd/{name}"] = text
            files[f"calico/{n.k8s_name}/bird2.conf"] = bird.render_bird2(cfg)
    return files

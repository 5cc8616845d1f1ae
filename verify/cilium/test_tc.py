"""Which BPF program sits on which tc hook (seed 000: `tc filter show dev cilium_vxlan egress`)."""

import pytest
import readers

pytestmark = pytest.mark.lab_only  # the lab model's own predictions, not a real cluster's (--kube-context)


def test_programs_on_their_hooks(running_lab, lab, node):
    filters = readers.bpf_filters(running_lab.host(node))
    problems = []
    for hook in lab.tc_attachments(node):
        got = filters.get((hook.dev, hook.direction), [])
        names = [f["name"] for f in got]
        if names != [hook.name]:
            problems.append(f"{hook.dev} {hook.direction}: expected [{hook.name}], got {names}")
        elif not (got[0]["direct_action"] and got[0]["jited"] and got[0]["pref"] == 1):
            problems.append(f"{hook.dev} {hook.direction}: {hook.name} is not direct-action, jited, pref 1: {got[0]}")
        elif got[0]["prog"] != hook.prog:
            # `cilium-eth0` does not say which program: its function name does
            problems.append(f"{hook.dev} {hook.direction}: {hook.name} runs {got[0]['prog']}, not {hook.prog}")
    assert not problems, f"{node}:\n" + "\n".join(problems)


def test_no_other_bpf_filters(running_lab, lab, node):
    wanted = {(h.dev, h.direction) for h in lab.tc_attachments(node)}
    stray = {k: [f["name"] for f in v] for k, v in readers.bpf_filters(running_lab.host(node)).items() if v and k not in wanted}
    assert not stray, f"{node}: BPF filters the lab did not ask for: {stray}"

"""Cilium's checks read the lab as Cilium sees it (CiliumLab: modes, endpoints, maps);
`running_lab` takes this `lab`, so it holds the same view."""

import pytest


@pytest.fixture(scope="session")
def lab(lab):
    return lab.cni

"""Calico's checks read the lab as Calico sees it (CalicoLab: pool mode, blocks, peers);
`running_lab` takes this `lab`, so it holds the same view."""

import pytest


@pytest.fixture(scope="session")
def lab(lab):
    return lab.cni

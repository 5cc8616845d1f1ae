"""A real kind + Cilium cluster: its expected state from the Kubernetes API (:mod:`.expect`),
the Cilium agent's own view (:mod:`.agent`), the kind/helm/kubectl command lines of
``cnilab up --kind`` (:mod:`.tools`) and the pytest options ``--kube-context``/``--kubeconfig``
(:mod:`.pytest_kube`).

Nothing here imports the deploy's facts: the expectation comes from API objects, the agent's
view from the agent's own printed output.
"""

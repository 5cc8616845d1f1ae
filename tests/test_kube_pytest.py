"""`pytest --kube-context X` with no reachable cluster exits at once, in one line, with status 2."""

from __future__ import annotations

import subprocess
import sys

import pytest

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: dead
  cluster: {server: "https://127.0.0.1:9"}
contexts:
- name: kind-dead
  context: {cluster: dead, user: u}
current-context: kind-dead
users:
- name: u
  user: {token: x}
"""


def _pytest(tmp_path, *args):
    (tmp_path / "test_one.py").write_text("def test_one():\n    pass\n")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "none")}
    return subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *args, "test_one.py"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)


def test_options_are_registered(tmp_path):
    r = subprocess.run([sys.executable, "-m", "pytest", "--help"], cwd=tmp_path, capture_output=True, text=True)
    assert "--kube-context=KUBE_CONTEXT" in r.stdout and "--kubeconfig=KUBECONFIG" in r.stdout


def test_no_kubeconfig(tmp_path):
    r = _pytest(tmp_path, "--kube-context", "kind-nowhere")
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.count("\n") == 1
    assert "--kube-context kind-nowhere: no reachable cluster: no context 'kind-nowhere'" in r.stderr
    assert "passed" not in r.stdout


def test_api_server_not_answering(tmp_path):
    (tmp_path / "kc.yaml").write_text(KUBECONFIG)
    r = _pytest(tmp_path, "--kube-context", "kind-dead", "--kubeconfig", str(tmp_path / "kc.yaml"))
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.count("\n") == 1
    assert "--kube-context kind-dead: no reachable cluster: the API server did not answer" in r.stderr
    assert "Connection refused" in r.stderr


@pytest.mark.parametrize("args", [[]])
def test_without_the_options_nothing_changes(tmp_path, args):
    r = _pytest(tmp_path, *args)
    assert r.returncode == 0 and "1 passed" in r.stdout

"""pyinfra facts over the JSON outputs of ip, tc and bpftool, run inside a lab node."""

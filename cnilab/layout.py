"""Where a lab keeps its own state inside every node (container or namespace). Private to
the node; shared by the backends that make nodes and the facts that read them."""

# Compiled objects, pid files, the responder, attach records.
NODE_STATE_DIR = "/run/cnilab"
NODE_OBJECT_DIR = f"{NODE_STATE_DIR}/bpf"
ATTACH_DIR = f"{NODE_STATE_DIR}/tc"
PID_DIR = f"{NODE_STATE_DIR}/pods"
# Written as the last step of making a node: a node without it was left half-made (an
# interrupted up) and is made again from nothing.
NODE_MADE = f"{NODE_STATE_DIR}/node-made"
# In the command line of every responder the lab starts: only those are ever stopped.
RESPONDER_MARK = "cnilab-responder"

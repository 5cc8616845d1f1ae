"""`cnilab bench`: the project's figures (lifecycle, scale, throughput, per-program, Calico).
Tools run from a source checkout (`python -m bench`), not part of the cnilab library."""

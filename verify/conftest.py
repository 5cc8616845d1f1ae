"""The verify suites get their fixtures (`running_lab`, `lab`, `node`, `pod`) from cnilab's pytest plugin."""

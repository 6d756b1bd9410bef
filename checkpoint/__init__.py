"""The `checkpoint` command line, the demo, provisioning and the hardware doctor: the top layer,
which may use every part and which no part imports."""

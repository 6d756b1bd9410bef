"""The stable names deploy/udev/99-checkpoint.rules gives a box's devices; the bundle's agent.yaml
and `checkpoint doctor` use the same ones."""

IDCARD = "/dev/checkpoint-idcard"
THERMO = "/dev/checkpoint-thermo"
CAMERA = "/dev/checkpoint-camera"

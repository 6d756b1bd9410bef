"""What every part shares and nothing above it owns: loading settings, structured logs, backoff,
systemd's notify protocol, MQTT client set-up, the devices' fixed names, private files, the version.

The bottom layer: drivers, agent and central import it; it imports none of them (nor the
`checkpoint` command line, which sits on top of everything).
"""

from importlib.metadata import PackageNotFoundError, version

try:  # the installed release's version (pyproject.toml's), which a box reports and updates compare
    __version__ = version("checkpoint-station")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0.0.0+source"

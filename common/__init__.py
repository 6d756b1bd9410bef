"""What every part shares and nothing above it owns: loading settings, structured logs, backoff,
systemd's notify protocol, MQTT client set-up, the devices' fixed names, private files, the version.

The bottom layer: drivers, agent and central import it; it imports none of them (nor the
`checkpoint` command line, which sits on top of everything).
"""

__version__ = "0.1.0"

"""`checkpoint doctor`: is this box ready? Which device is on which port, does the camera see,
does the broker take the box's login, is the clock set, is there disk.

`probes` (what each device protocol is asked and how its answer is recognised, from the drivers'
own codecs), `serial_scan` (the ports, probed one by one), `camera_check`, `host_checks` (the broker
login), `report` (the table), `cli`. The clock and disk checks are the box's own (agent.doctor): a
running agent sends them to central when asked for its diagnostics.
"""

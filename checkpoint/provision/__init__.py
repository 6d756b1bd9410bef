"""Provisioning: one command per box (`checkpoint provision`), and its revocation.

`deployment` (the directory and its records), `ca` (the deployment's certificate authority),
`passwords` and `acl` (the broker's accounts), `broker_files` (what the broker reads, and its
reload), `bundle` (what the box installs), `actions` (init / provision / revoke), `cli`.
"""

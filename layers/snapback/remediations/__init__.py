"""The catalogue: one module per remediation, discovered by `snapback.registry`.

Adding a remediation means adding a module here (and its fixtures and tests) - nothing else.
"""

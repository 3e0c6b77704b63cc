"""The Snapback CDK app's stacks, all derived from the registry and snapback.yaml."""

"""The operator side of Snapback: the `snapback` CLI, the demo and its scenarios, backtest and redrive.

It imports the runtime library (`snapback`, shipped in the Lambda layer) and is never imported by
it: nothing here reaches a Lambda function.
"""

"""The scheduling engine: the firing loop, executors and leadership."""

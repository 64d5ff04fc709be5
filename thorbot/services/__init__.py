"""Use-cases that combine outside services (Redis, Slack, Thor) with the pure core: shared by serve and the worker."""

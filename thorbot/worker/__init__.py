"""The periodic job (`thorbot worker`, and the worker half of `thorbot socket`): poll, deliver, escalate."""

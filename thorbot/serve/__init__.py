"""The Slack app (`thorbot serve`, and the app half of `thorbot socket`): listeners, replies, HTTP."""

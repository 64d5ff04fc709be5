"""thorbot: Slack chat-ops for EV charging stations on the Thor platform."""

__version__ = "0.2.0"

"""Notify: messages to people (in-app, email, SMS) from templates, with delivery status.

Other domains never call this domain directly: they publish a `notify.send` event in their own
transaction, so a message is sent only if the change that caused it committed.
"""

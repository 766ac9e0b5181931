"""Translation catalogues (`<lang>/LC_MESSAGES/messages.po`), their template `messages.pot`, and the
extraction helpers that keep them in step with the code. `scripts/i18n.sh` updates them.
"""

"""The kernel: configuration, database and unit of work, ids and clocks, errors, audit chain, outbox, i18n.

The kernel knows no domain. Domains build on what it exports here.
"""

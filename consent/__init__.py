"""The consent ledger: who agreed to what, when, with which wording; withdrawal.

Built by the recording work; nothing here yet.
"""

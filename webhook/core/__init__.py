"""The core types every layer shares: reviews, decisions, policies, kinds, objects, the view.

Pure data and pure functions: nothing here imports another part of edgeguard, reads files or
knows a concrete policy.
"""

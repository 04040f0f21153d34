"""The pure domain: order states, the permission policy and deadline arithmetic.

Nothing here imports aiogram or SQLAlchemy, so the bot, the scheduler and an HTTP API share one set of rules.
"""

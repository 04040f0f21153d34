"""The service layer: plain async functions `(args…, uow) -> DTO` that the bot, the scheduler and an HTTP API
all call. Each loads what it needs, asks the pure domain, applies the change, appends history and
notifications, and commits once. Nothing aiogram-specific lives here."""

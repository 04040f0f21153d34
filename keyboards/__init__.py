"""Keyboard builders and CallbackData classes, nothing else. Callback data carries ids, never payloads."""

"""What users send besides text: the files we keep with orders, reports and comments."""

from __future__ import annotations

from aiogram.types import Message

from bot.services.dto import AttachmentInfo


def attachment_of(message: Message) -> AttachmentInfo | None:
    """A document or a photo (its largest size) as an attachment; None for anything else."""
    if message.photo:
        p = message.photo[-1]
        return AttachmentInfo("photo", p.file_id, None, "image/jpeg", p.file_size, p.file_unique_id)
    if message.document:
        d = message.document
        return AttachmentInfo("document", d.file_id, d.file_name, d.mime_type, d.file_size, d.file_unique_id)
    return None

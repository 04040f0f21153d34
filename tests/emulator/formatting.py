"""Text formatting the way Telegram does it: HTML / MarkdownV2 parsing, entity auto-detection, UTF-16 offsets.

Entity offsets and lengths are measured in UTF-16 code units, exactly as in the Bot API.
Parse errors follow the wording of TDLib (``can't parse entities: <detail>``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

Entity = dict[str, Any]


class EntityParseError(ValueError):
    """Raised when a text cannot be parsed with the requested parse_mode (detail only, no prefix)."""


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


# --------------------------------------------------------------------------------------------------------------
# Building text + entities incrementally with UTF-16 offsets
# --------------------------------------------------------------------------------------------------------------


@dataclass
class _Builder:
    parts: list[str]
    length16: int = 0

    def add(self, chunk: str) -> None:
        if chunk:
            self.parts.append(chunk)
            self.length16 += utf16_len(chunk)

    def text(self) -> str:
        return "".join(self.parts)


def _finish(text: str, entities: list[Entity]) -> tuple[str, list[Entity]]:
    """Strip leading/trailing whitespace like Telegram, fix entity bounds, drop empty ones, sort."""
    stripped_left = text.lstrip()
    left16 = utf16_len(text) - utf16_len(stripped_left)
    result = stripped_left.rstrip()
    total16 = utf16_len(result)
    fixed: list[Entity] = []
    for entity in entities:
        start = max(entity["offset"] - left16, 0)
        end = min(entity["offset"] + entity["length"] - left16, total16)
        if end <= start:
            continue
        new = dict(entity)
        new["offset"] = start
        new["length"] = end - start
        fixed.append(new)
    fixed.sort(key=lambda e: (e["offset"], -e["length"]))
    return result, fixed


# --------------------------------------------------------------------------------------------------------------
# HTML (https://core.telegram.org/bots/api#html-style)
# --------------------------------------------------------------------------------------------------------------

_SIMPLE_TAGS: dict[str, str] = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
}
_ALL_TAGS = {*_SIMPLE_TAGS, "a", "span", "tg-emoji"}
_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_TAG_NAME_RE = re.compile(r"[a-zA-Z0-9-]*")
_ATTR_RE = re.compile(r"\s*([a-zA-Z0-9_-]+)(?:\s*=\s*(\"[^\"]*\"|'[^']*'|[^\s>\"']+))?")


def _byte_offset(text: str, index: int) -> int:
    return len(text[:index].encode("utf-8"))


def _decode_entity(text: str, pos: int) -> tuple[str, int] | None:
    """Decode an HTML entity starting at text[pos] == '&' like TDLib; returns (char, next_pos) or None."""
    end = pos + 1
    if end < len(text) and text[end] == "#":
        end += 1
        value = 0
        if end < len(text) and text[end] in "xX":
            end += 1
            start_digits = end
            while end < len(text) and text[end] in "0123456789abcdefABCDEF":
                end += 1
            if end == start_digits:
                return None
            value = int(text[start_digits:end], 16)
        else:
            start_digits = end
            while end < len(text) and text[end].isdigit():
                end += 1
            if end == start_digits:
                return None
            value = int(text[start_digits:end])
        if value == 0 or value >= 0x10FFFF or end - pos >= 10:
            return None
        char = chr(value)
    else:
        while end < len(text) and text[end].isascii() and text[end].isalpha():
            end += 1
        name = text[pos + 1 : end]
        if name not in _NAMED_ENTITIES:
            return None
        char = _NAMED_ENTITIES[name]
    if end < len(text) and text[end] == ";":
        end += 1
    return char, end


def _decode_attr(value: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(value):
        if value[i] == "&":
            decoded = _decode_entity(value, i)
            if decoded is not None:
                out.append(decoded[0])
                i = decoded[1]
                continue
        out.append(value[i])
        i += 1
    return "".join(out)


def parse_html(source: str, *, strict: bool = True) -> tuple[str, list[Entity]]:
    """Parse Telegram-flavoured HTML into (plain text, entities).

    ``strict`` additionally refuses a bare ``&`` that does not start a valid entity and ``<a>`` without href
    (TDLib keeps them literally / silently drops the link; strict mode surfaces a missing ``html.escape``).
    """
    out = _Builder([])
    entities: list[Entity] = []
    # stack of (tag name, entity dict being built, start offset in utf16, start index in characters)
    stack: list[tuple[str, Entity | None, int, int]] = []
    i = 0
    n = len(source)
    while i < n:
        ch = source[i]
        if ch == "&":
            decoded = _decode_entity(source, i)
            if decoded is None:
                if strict:
                    raise EntityParseError(
                        f'Unsupported HTML entity or unescaped "&" at byte offset {_byte_offset(source, i)}'
                    )
                out.add("&")
                i += 1
            else:
                out.add(decoded[0])
                i = decoded[1]
            continue
        if ch != "<":
            j = i
            while j < n and source[j] not in "<&":
                j += 1
            out.add(source[i:j])
            i = j
            continue
        begin = i
        if i + 1 < n and source[i + 1] == "/":
            # End tag
            m = _TAG_NAME_RE.match(source, i + 2)
            assert m is not None
            name = m.group(0).lower()
            j = m.end()
            while j < n and source[j].isspace():
                j += 1
            if j >= n or source[j] != ">":
                raise EntityParseError(f"Unclosed end tag at byte offset {_byte_offset(source, begin)}")
            if not stack:
                raise EntityParseError(f"Unexpected end tag at byte offset {_byte_offset(source, begin)}")
            open_name, closed, start16, start_chars = stack.pop()
            if name != open_name:
                raise EntityParseError(
                    f"Unmatched end tag at byte offset {_byte_offset(source, begin)}, "
                    f'expected "</{open_name}>", found "</{name}>"'
                )
            if closed is not None:
                closed["offset"] = start16
                closed["length"] = out.length16 - start16
                if open_name == "a" and not closed.get("url") and not closed.get("user"):
                    # <a> without href: TDLib uses the text itself as URL if it is a link, else drops it.
                    inner = out.text()[start_chars:]
                    if inner.startswith(("http://", "https://", "tg://")):
                        closed["url"] = inner
                    else:
                        closed = None
                if closed is not None and closed["length"] > 0:
                    entities.append(closed)
            i = j + 1
            continue
        # Start tag
        m = _TAG_NAME_RE.match(source, i + 1)
        assert m is not None
        name = m.group(0).lower()
        if name not in _ALL_TAGS:
            raise EntityParseError(f'Unsupported start tag "{name}" at byte offset {_byte_offset(source, begin)}')
        j = m.end()
        attrs: dict[str, str] = {}
        while True:
            while j < n and source[j].isspace():
                j += 1
            if j >= n:
                raise EntityParseError(f"Unclosed start tag at byte offset {_byte_offset(source, begin)}")
            if source[j] == ">":
                break
            if source[j] == "/" and j + 1 < n and source[j + 1] == ">":
                raise EntityParseError(
                    f'Unsupported self-closing tag "{name}" at byte offset {_byte_offset(source, begin)}'
                )
            am = _ATTR_RE.match(source, j)
            if am is None or am.end() == j:
                raise EntityParseError(f'Unclosed start tag "{name}" at byte offset {_byte_offset(source, begin)}')
            raw = am.group(2) or ""
            if raw[:1] in "\"'" and raw:
                raw = raw[1:-1]
            attrs[am.group(1).lower()] = _decode_attr(raw)
            j = am.end()
        i = j + 1
        entity: Entity | None
        if name in _SIMPLE_TAGS:
            etype = _SIMPLE_TAGS[name]
            if name == "blockquote" and "expandable" in attrs:
                etype = "expandable_blockquote"
            entity = {"type": etype}
            if name == "code" and stack and stack[-1][0] == "pre" and stack[-1][1] is not None:
                lang = attrs.get("class", "")
                if lang.startswith("language-"):
                    stack[-1][1]["language"] = lang[len("language-") :]
                    entity = None
        elif name == "span":
            if attrs.get("class") != "tg-spoiler":
                raise EntityParseError('Tag "span" must have class "tg-spoiler"')
            entity = {"type": "spoiler"}
        elif name == "tg-emoji":
            emoji_id = attrs.get("emoji-id", "")
            if not emoji_id.isdigit():
                raise EntityParseError('Custom emoji entity must contain a valid "emoji-id" attribute')
            entity = {"type": "custom_emoji", "custom_emoji_id": emoji_id}
        else:  # a
            href = attrs.get("href")
            if href is None or href == "":
                if strict:
                    raise EntityParseError(
                        f'Tag "a" must have attribute "href" at byte offset {_byte_offset(source, begin)}'
                    )
                entity = {"type": "text_link", "url": ""}
            else:
                um = re.fullmatch(r"tg://user\?id=(\d+)", href)
                if um:
                    entity = {
                        "type": "text_mention",
                        "user": {"id": int(um.group(1)), "is_bot": False, "first_name": ""},
                    }
                else:
                    entity = {"type": "text_link", "url": href}
        stack.append((name, entity, out.length16, len(out.text())))
    if stack:
        raise EntityParseError(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    return _finish(out.text(), entities)


# --------------------------------------------------------------------------------------------------------------
# MarkdownV2 (https://core.telegram.org/bots/api#markdownv2-style)
# --------------------------------------------------------------------------------------------------------------

_MD2_RESERVED = set("_*[]()~`>#+-=|{}.!")


def parse_markdown_v2(source: str) -> tuple[str, list[Entity]]:
    out = _Builder([])
    entities: list[Entity] = []
    stack: list[tuple[str, int, int]] = []  # (marker, start16, byte offset)
    i = 0
    n = len(source)
    line_start = True
    quote_start: int | None = None

    def close_quote() -> None:
        nonlocal quote_start
        if quote_start is not None and out.length16 > quote_start:
            entities.append({"type": "blockquote", "offset": quote_start, "length": out.length16 - quote_start})
        quote_start = None

    while i < n:
        ch = source[i]
        if line_start and ch == ">" and not stack:
            if quote_start is None:
                quote_start = out.length16
            i += 1
            line_start = False
            continue
        if line_start and quote_start is not None and ch != ">":
            close_quote()
        line_start = False
        if ch == "\\":
            if i + 1 < n and ord(source[i + 1]) <= 126:
                out.add(source[i + 1])
                i += 2
                continue
            raise EntityParseError("Character '\\' is reserved and must be escaped with the preceding '\\'")
        if ch == "\n":
            out.add(ch)
            i += 1
            line_start = True
            continue
        if ch == "`":
            is_pre = source.startswith("```", i)
            marker = "```" if is_pre else "`"
            start = i + len(marker)
            language = ""
            if is_pre:
                nl = source.find("\n", start)
                end_marker = source.find("```", start)
                if nl != -1 and (end_marker == -1 or nl < end_marker):
                    language = source[start:nl]
                    start = nl + 1
            j = start
            chunk: list[str] = []
            while j < n and not source.startswith(marker, j):
                if source[j] == "\\" and j + 1 < n and source[j + 1] in "`\\":
                    chunk.append(source[j + 1])
                    j += 2
                else:
                    chunk.append(source[j])
                    j += 1
            if j >= n:
                raise EntityParseError(
                    f"Can't find end of {'Pre' if is_pre else 'Code'} entity at byte offset {_byte_offset(source, i)}"
                )
            begin16 = out.length16
            out.add("".join(chunk))
            entity: Entity = {"type": "pre" if is_pre else "code", "offset": begin16, "length": out.length16 - begin16}
            if language:
                entity["language"] = language
            entities.append(entity)
            i = j + len(marker)
            continue
        if ch == "[":
            stack.append(("[", out.length16, _byte_offset(source, i)))
            i += 1
            continue
        if ch == "]" and stack and stack[-1][0] == "[":
            _, start16, _b = stack.pop()
            if i + 1 >= n or source[i + 1] != "(":
                raise EntityParseError("Character ']' is reserved and must be escaped with the preceding '\\'")
            close = source.find(")", i + 2)
            if close == -1:
                raise EntityParseError(f"Can't find end of a URL at byte offset {_byte_offset(source, i + 1)}")
            url = source[i + 2 : close].replace("\\)", ")").replace("\\\\", "\\")
            if out.length16 > start16:
                entities.append({"type": "text_link", "offset": start16, "length": out.length16 - start16, "url": url})
            i = close + 1
            continue
        marker = ""
        if source.startswith("||", i):
            marker = "||"
        elif source.startswith("__", i):
            marker = "__"
        elif ch in "*_~":
            marker = ch
        if marker:
            if stack and stack[-1][0] == marker:
                _, start16, _b = stack.pop()
                etype = {"*": "bold", "_": "italic", "__": "underline", "~": "strikethrough", "||": "spoiler"}[marker]
                if out.length16 > start16:
                    entities.append({"type": etype, "offset": start16, "length": out.length16 - start16})
            else:
                stack.append((marker, out.length16, _byte_offset(source, i)))
            i += len(marker)
            continue
        if ch in _MD2_RESERVED:
            raise EntityParseError(f"Character '{ch}' is reserved and must be escaped with the preceding '\\'")
        out.add(ch)
        i += 1
    if stack:
        marker, _s, byte = stack[-1]
        raise EntityParseError(f"Can't find end of the entity starting at byte offset {byte}")
    close_quote()
    return _finish(out.text(), entities)


def parse_markdown_legacy(source: str) -> tuple[str, list[Entity]]:
    """Legacy Markdown: *bold* _italic_ `code` ```pre``` [text](url); no nesting, '\\' escapes."""
    out = _Builder([])
    entities: list[Entity] = []
    i = 0
    n = len(source)
    while i < n:
        ch = source[i]
        if ch == "\\" and i + 1 < n and source[i + 1] in "_*`[":
            out.add(source[i + 1])
            i += 2
            continue
        if ch in "*_`" or ch == "[":
            if ch == "[":
                close = source.find("](", i)
                end = source.find(")", close + 2) if close != -1 else -1
                if close == -1 or end == -1:
                    raise EntityParseError(
                        f"Can't find end of the entity starting at byte offset {_byte_offset(source, i)}"
                    )
                start16 = out.length16
                out.add(source[i + 1 : close])
                entities.append(
                    {
                        "type": "text_link",
                        "offset": start16,
                        "length": out.length16 - start16,
                        "url": source[close + 2 : end],
                    }
                )
                i = end + 1
                continue
            marker = "```" if source.startswith("```", i) else ch
            end = source.find(marker, i + len(marker))
            if end == -1:
                raise EntityParseError(
                    f"Can't find end of the entity starting at byte offset {_byte_offset(source, i)}"
                )
            start16 = out.length16
            out.add(source[i + len(marker) : end])
            etype = {"*": "bold", "_": "italic", "`": "code", "```": "pre"}[marker]
            entities.append({"type": etype, "offset": start16, "length": out.length16 - start16})
            i = end + len(marker)
            continue
        out.add(ch)
        i += 1
    return _finish(out.text(), entities)


def parse_text(text: str, parse_mode: str | None, *, strict_html: bool = True) -> tuple[str, list[Entity]]:
    """Apply parse_mode (None = plain). Raises EntityParseError / ValueError('unsupported parse_mode')."""
    if parse_mode is None or parse_mode == "":
        return _finish(text, [])
    mode = parse_mode.lower()
    if mode == "html":
        return parse_html(text, strict=strict_html)
    if mode == "markdownv2":
        return parse_markdown_v2(text)
    if mode == "markdown":
        return parse_markdown_legacy(text)
    raise ValueError("unsupported parse_mode")


# --------------------------------------------------------------------------------------------------------------
# Automatic entities (what Telegram detects in any message text)
# --------------------------------------------------------------------------------------------------------------

_AUTO_RE = re.compile(
    r"(?P<bot_command>(?<![\w/])/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?)(?![\w/])"
    r"|(?P<url>https?://[^\s<>\"]+)"
    r"|(?P<email>[\w.+-]+@[\w-]+\.[\w.-]+)"
    r"|(?P<mention>(?<![\w@])@[A-Za-z0-9_]{4,32})(?!\w)"
    r"|(?P<hashtag>(?<![\w#])#\w+)"
)


def detect_entities(text: str) -> list[Entity]:
    """Entities Telegram detects automatically: bot_command, url, email, mention, hashtag."""
    result: list[Entity] = []
    for m in _AUTO_RE.finditer(text):
        kind = m.lastgroup
        assert kind is not None
        value = m.group(kind)
        start = m.start(kind)
        if kind == "url":
            value = value.rstrip(".,;:!?)")
        result.append({"type": kind, "offset": utf16_len(text[:start]), "length": utf16_len(value)})
    return result


def merge_entities(explicit: list[Entity], auto: list[Entity]) -> list[Entity]:
    """Add auto-detected entities that do not overlap explicit ones (like Telegram does)."""
    merged = list(explicit)
    for entity in auto:
        a0, a1 = entity["offset"], entity["offset"] + entity["length"]
        if any(
            e["offset"] < a1 and a0 < e["offset"] + e["length"]
            for e in explicit
            if e["type"] in ("code", "pre", "text_link", "url")
        ):
            continue
        merged.append(entity)
    merged.sort(key=lambda e: (e["offset"], -e["length"]))
    return merged


def entity_text(text: str, entity: Entity) -> str:
    """Substring of text covered by the entity (UTF-16 offsets)."""
    raw = text.encode("utf-16-le")
    start = entity["offset"] * 2
    return raw[start : start + entity["length"] * 2].decode("utf-16-le")

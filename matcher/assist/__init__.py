"""The need-writing assistant: suggestions (targets, assistance types, places), missing information and
duplicates for a draft, served by :class:`matcher.assist.service.AssistService` (docs/assistant.md).

A room of the engine beside alerts and review: it imports the engine, records, access and models; use cases,
the CLI and the API import it; nothing below it does.
"""

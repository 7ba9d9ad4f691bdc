"""Languages: the gettext catalogues (``locales/``) and the sentences written with them that need no web page.

The pages (``api/web``) and the alert e-mails (``matcher.alerts``) both speak the reader's language, so what
they share lives here, below both: the catalogues and the active language (:mod:`.catalogues`) and the
explanations of a match rendered from the engine's language-free facts (:mod:`.explanations`). Choosing a
request's language (cookie, ``Accept-Language``) stays with the pages, in ``api/web/i18n.py``.
"""

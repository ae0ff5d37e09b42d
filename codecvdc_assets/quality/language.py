"""Which language a caption is written in: letters by script and the share of each language's stop words.

The stop-word lists are frequent function words of each language. A word in two lists ("de", "la", "in",
"as") counts for both: text in the profile's language still has more of its own.
"""

from __future__ import annotations

import unicodedata

_RAW = {
    "en": """the a an and or but of to in on at by for with from into onto over under is are was were be been
        being it its this that these those he she they them his her their there here then than as while who which
        what where when not no yes some any each both all one two three has have had does did do can will would
        could should may might must up down out off about after before between through during above below again
        very also only just so such too toward towards behind next near around across along against""",
    "es": """el la los las un una unos unas y o pero de del al en con por para sin sobre entre es son está están
        fue era ser estar hay que se su sus lo le les muy más como cuando donde mientras hacia desde hasta este
        esta estos estas ese esa también otro otra""",
    "fr": """le la les un une des et ou mais de du au aux en dans sur sous avec pour par sans est sont était
        être il elle ils elles son sa ses leur leurs ce cette ces qui que quoi où très plus comme quand pendant
        vers aussi une autre""",
    "de": """der die das den dem des ein eine einen einem einer und oder aber von zu im mit auf für aus bei
        nach über unter ist sind war waren sein er sie es ihr ihre sich nicht auch sehr wie wenn wo während
        zum zur vor hinter neben""",
    "it": """il lo la gli le un una uno e o ma di del della dei delle da dal nel nella con su per tra fra è
        sono era essere lui lei loro suo sua che chi dove quando mentre molto più come anche verso""",
    "pt": """o os as um uma uns umas e ou mas de do da dos das em no na nos nas com por para sem sobre entre
        é são está estão foi era ser estar que se seu sua seus suas muito mais como quando onde enquanto""",
    "nl": """de het een en of maar van in op aan met voor bij uit naar over onder is zijn was waren hij zij
        ze het hun niet ook zeer heel als wanneer waar terwijl deze dit die dat""",
}


STOP_WORDS = {lang: frozenset(text.split()) for lang, text in _RAW.items()}


def is_latin(ch: str) -> bool:
    return "LATIN" in unicodedata.name(ch, "")


def foreign_letter_share(text: str) -> float:
    """Share of the letters that are not Latin (Han, Cyrillic, Arabic, ...); 0.0 for a text without letters."""
    if text.isascii():
        return 0.0
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 0.0
    return sum(1 for ch in letters if not (ch.isascii() or is_latin(ch))) / len(letters)


def stop_word_shares(tokens: list[str]) -> dict[str, float]:
    """For every listed language, the share of `tokens` that are its stop words."""
    if not tokens:
        return {lang: 0.0 for lang in STOP_WORDS}
    return {lang: sum(1 for t in tokens if t in stop) / len(tokens) for lang, stop in STOP_WORDS.items()}

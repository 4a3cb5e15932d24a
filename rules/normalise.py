"""Normalised match keys: the ONE place that says when two values are "the same" for duplicates.

Used twice with the same functions: to build the values a CRM is asked for (:mod:`crmgate.rules.matching`
turns them into exact and prefix look-ups) and to compare the candidates it returns. Every function
returns ``None`` for a value that gives no key (blank, unparsable, a shared free-mail domain).
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Any

import phonenumbers
from rapidfuzz import fuzz
from rapidfuzz.distance import OSA

#: mailbox providers shared by unrelated people: an address there says nothing about the employer
FREE_MAIL_DOMAINS = frozenset({
    "gmail.com", "googlemail.com", "yahoo.com", "yahoo.co.uk", "yahoo.fr", "ymail.com", "hotmail.com",
    "hotmail.co.uk", "hotmail.fr", "outlook.com", "live.com", "msn.com", "aol.com", "icloud.com",
    "me.com", "mac.com", "proton.me", "protonmail.com", "gmx.de", "gmx.net", "gmx.com", "web.de",
    "mail.com", "mail.ru", "yandex.ru", "yandex.com", "qq.com", "163.com", "126.com", "naver.com",
    "daum.net", "hanmail.net", "orange.fr", "free.fr", "laposte.net", "libero.it", "t-online.de",
    "zoho.com", "fastmail.com", "hey.com", "comcast.net", "verizon.net", "att.net",
})
#: hosts where many unrelated organisations have pages: a website there names no one company
SHARED_WEBSITE_HOSTS = frozenset({
    "linkedin.com", "facebook.com", "instagram.com", "twitter.com", "x.com", "sites.google.com",
    "google.com", "business.site", "github.com", "github.io", "medium.com", "youtube.com",
    "wixsite.com", "wordpress.com", "blogspot.com", "squarespace.com", "yelp.com", "xing.com",
})
#: letters that carry no combining accent in Unicode but are written without it in plain text
_LETTERS = str.maketrans({"ł": "l", "ø": "o", "đ": "d", "ð": "d", "æ": "ae", "œ": "oe", "ı": "i", "þ": "th",
                          "ß": "ss"})
#: "and" in its common spellings: "O'Reilly & Sons" is "O'Reilly and Sons"
_JOINERS = frozenset({"and", "und", "et", "y", "e", "og", "och", "en"})
#: separates the parts of a person's name inside one key (punctuation never survives normalising)
PART = "|"
#: legal-form words dropped from company names (compared after folding and removing dots)
LEGAL_SUFFIXES = frozenset({
    "inc", "incorporated", "llc", "llp", "lp", "ltd", "limited", "corp", "corporation", "co", "company",
    "plc", "gmbh", "mbh", "ag", "kg", "ohg", "ug", "se", "sa", "sas", "sarl", "srl", "sl", "spa", "sro",
    "bv", "nv", "ab", "as", "asa", "oy", "oyj", "aps", "pty", "pte", "kk", "kft", "zrt", "doo", "ooo",
    "oao", "zao", "pao", "ao", "sp", "zoo", "holding", "holdings", "group", "the", "αε", "주",
})
#: legal forms written without spaces around them (CJK, Korean) or in Cyrillic
LEGAL_AFFIXES = ("株式会社", "有限会社", "合同会社", "股份有限公司", "有限责任公司", "有限公司", "集团",
                 "주식회사", "(주)", "㈜", "유한회사", "ооо", "оао", "зао", "пао", "ао")
_PUNCT = re.compile(r"[^\w\s]", re.UNICODE)
_SPACE = re.compile(r"\s+")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://")
#: characters a fuzzy prefix look-up asks for
PREFIX_LENGTH = 4


def fold(value: Any) -> str:
    """Lower case, compatibility forms unified (full-width -> ASCII), accents dropped, spaces collapsed."""
    # only text reaches the cache: a list or dict in a name field (unhashable) folds to "" as any non-text
    return _fold(value) if isinstance(value, str) else ""


@lru_cache(maxsize=65536)
def _fold(value: str) -> str:
    text = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", value))
    # drop accents of alphabetic scripts only: a kana's voicing mark changes the word (グ is not ク)
    kept: list[str] = []
    for ch in text:
        if unicodedata.combining(ch) and kept and ord(kept[-1]) < 0x0530:
            continue
        kept.append(ch)
    text = "".join(kept)
    # NFKD splits Hangul into jamo and kana from their marks; recompose so they stay comparable
    text = unicodedata.normalize("NFC", text).casefold().translate(_LETTERS)
    return _SPACE.sub(" ", text).strip()


def email(value: Any, *, plus_addressing: bool = False) -> str | None:
    """``" John.Smith+crm@ACME.com "`` -> ``john.smith+crm@acme.com`` (``john.smith@acme.com`` when
    ``plus_addressing`` says the ``+tag`` is the same mailbox)."""
    if not isinstance(value, str):
        return None
    return _email(value, plus_addressing)


@lru_cache(maxsize=65536)  # a batch normalises each address several times: look-up, screen, index
def _email(value: str, plus_addressing: bool) -> str | None:
    text = value.strip().casefold()
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain:
        return None
    if plus_addressing:
        local = local.split("+", 1)[0] or local
    return f"{local}@{domain}"


def email_domain(value: Any, *, shared: frozenset[str] = frozenset()) -> str | None:
    """The domain of an email address, or None for free-mail and ``shared`` domains (they match nobody)."""
    address = email(value)
    if address is None:
        return None
    domain = address.rsplit("@", 1)[1]
    return None if domain in FREE_MAIL_DOMAINS or domain in shared else domain


#: entries each cache below keeps: a batch normalises each value several times (look-up, screen,
#: batch index), and every result is a pure function of the text
_CACHED = 16384


def website_domain(value: Any) -> str | None:
    """``"HTTPS://www.Acme.com/about?x=1"`` -> ``acme.com`` (scheme, ``www.``, port and path dropped)."""
    return _website_domain(value) if isinstance(value, str) else None


@lru_cache(maxsize=_CACHED)
def _website_domain(value: str) -> str | None:
    text = _SCHEME.sub("", value.strip().casefold())
    host = re.split(r"[/?#]", text, maxsplit=1)[0].rsplit("@", 1)[-1].split(":", 1)[0].strip(".")
    host = host.removeprefix("www.")
    if host in SHARED_WEBSITE_HOSTS or any(host.endswith("." + h) for h in SHARED_WEBSITE_HOSTS):
        return None
    return host if "." in host and " " not in host else None


def phone(value: Any, region: str | None = None) -> str | None:
    """E.164 (``+14155550100``) via ``phonenumbers``; ``region`` is used when the number has no ``+``."""
    if not isinstance(value, (str, int)) or isinstance(value, bool):
        return None
    return _phone(str(value), region)  # (the text is all it reads: 16 us a parse, so once per number)


@lru_cache(maxsize=_CACHED)
def _phone(text: str, region: str | None) -> str | None:
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_forms(value: Any, region: str | None = None) -> list[str]:
    """How a CRM may have stored this number as text: E.164, international, national, digits."""
    e164 = phone(value, region)
    return [] if e164 is None else list(_phone_forms(e164))


@lru_cache(maxsize=_CACHED)
def _phone_forms(e164: str) -> tuple[str, ...]:
    number = phonenumbers.parse(e164)
    fmt = phonenumbers.PhoneNumberFormat
    national = phonenumbers.format_number(number, fmt.NATIONAL)
    forms = [e164, phonenumbers.format_number(number, fmt.INTERNATIONAL), national,
             re.sub(r"\D", "", national), e164.lstrip("+")]
    return tuple(dict.fromkeys(forms))


def company_name(value: Any) -> str | None:
    """``"ACME, Inc."`` -> ``acme``; ``"Müller GmbH & Co. KG"`` -> ``muller``; ``"株式会社サクラ精機"`` -> ``サクラ精機``."""
    return _company_name(value) if isinstance(value, str) else None  # (anything else folds to "": no name)


@lru_cache(maxsize=_CACHED)
def _company_name(value: str) -> str | None:
    text = fold(value).replace("&", " ").replace(".", "").replace("'", "").replace("’", "")
    text = _SPACE.sub(" ", _PUNCT.sub(" ", text)).strip()
    changed = True
    while changed:
        changed = False
        for affix in LEGAL_AFFIXES:
            for strip in (str.removeprefix, str.removesuffix):
                stripped = strip(text, affix).strip()
                if stripped != text and stripped:
                    text, changed = stripped, True
    words = [w for w in text.split() if w not in _JOINERS]
    while len(words) > 1 and words[-1] in LEGAL_SUFFIXES:
        words.pop()
    while len(words) > 1 and words[0] in LEGAL_SUFFIXES:
        words.pop(0)
    out = " ".join(words)
    return out or None


def person_name(*parts: Any) -> str | None:
    """First and last name (any case or accents) as folded parts joined by :data:`PART`."""
    # a part that is not text folds to "", as "" does: the parts as text are all the key reads
    return _person_name(tuple(p if p.__class__ is str else p if isinstance(p, str) else "" for p in parts))


@lru_cache(maxsize=_CACHED)
def _person_name(parts: tuple[str, ...]) -> str | None:
    words = [" ".join(_SPACE.sub(" ", _PUNCT.sub(" ", fold(p).replace(".", ""))).split()) for p in parts]
    words = [w for w in words if w]
    return PART.join(words) or None


#: the most a company-name pair scores when one has a word more: "Acme US" is a subsidiary, not a typo
EXTRA_WORD_CAP = 80.0


def similarity(a: str, b: str) -> float:
    """0-100: how alike two normalised company names are (rapidfuzz, word order ignored; a name
    with a whole word more or less scores at most :data:`EXTRA_WORD_CAP`)."""
    score = float(fuzz.token_sort_ratio(a, b))
    return min(score, EXTRA_WORD_CAP) if len(a.split()) != len(b.split()) else score


def person_similarity(a: str, b: str) -> float:
    """0-100: one minus the share of letters to edit (OSA: a swap is one edit), part by part so a
    different first name counts in full ("Leila" is not "Liam"), in either part order."""
    pa, pb = a.split(PART), b.split(PART)
    if len(pa) != len(pb):
        pa, pb = [" ".join(sorted(" ".join(pa).split()))], [" ".join(sorted(" ".join(pb).split()))]
    # edits in part order and in reversed order, over the longer name's letters (written out for
    # the one- and two-part names nearly every key has: the matcher's innermost call)
    most = max(sum(map(len, pa)), sum(map(len, pb)), 1)
    edit = OSA.distance
    if len(pa) == 2:
        (a0, a1), (b0, b1) = pa, pb
        straight, crossed = edit(a0, b0) + edit(a1, b1), edit(a0, b1) + edit(a1, b0)
    elif len(pa) == 1:
        straight = crossed = edit(pa[0], pb[0])
    else:
        straight = sum(edit(x, y) for x, y in zip(pa, pb))
        crossed = sum(edit(x, y) for x, y in zip(pa, pb[::-1]))
    return max(100.0 * (1 - straight / most), 100.0 * (1 - crossed / most))


def person_similarity_from(a: str, b: str, cutoff: float) -> float | None:
    """:func:`person_similarity` when it reaches ``cutoff``, else None; a pair whose parts differ
    in length by more than the cutoff allows is not compared letter by letter (every letter
    more or less is at least one edit, in either part order)."""
    i, j = a.find(PART), b.find(PART)
    if i >= 0 and j >= 0 and a.find(PART, i + 1) < 0 and b.find(PART, j + 1) < 0:  # two parts each
        a1, b1 = len(a) - i - 1, len(b) - j - 1  # (i and j: the first parts' lengths)
        most = max(i + a1, j + b1, 1)
        fewest = min(abs(i - j) + abs(a1 - b1), abs(i - b1) + abs(a1 - j))
        if 100.0 * (1 - fewest / most) + 1e-9 < cutoff:  # (the margin: a bound, never a rounding, decides)
            return None
    score = person_similarity(a, b)
    return score if score >= cutoff else None


def prefixes(value: Any, *, company: bool) -> list[str]:
    """The bounded prefixes a CRM is asked for so fuzzy candidates come back: the first
    :data:`PREFIX_LENGTH` characters of the name as typed (lower case) and folded."""
    return list(_prefixes(value, company)) if isinstance(value, str) else []  # (no text: no prefix)


@lru_cache(maxsize=_CACHED)
def _prefixes(value: str, company: bool) -> tuple[str, ...]:
    raw = value.strip().casefold()
    key = company_name(value) if company else person_name(value)
    out = [p[:PREFIX_LENGTH] for p in (raw, key or "") if p]
    if company and key and not key.isascii():  # names stored with a leading legal form (株式会社...)
        out += [f"{affix}{key[:PREFIX_LENGTH]}" for affix in LEGAL_AFFIXES[:2] + ("주식회사 ",)]
    return tuple(dict.fromkeys(out))


def website_forms(domain: str) -> list[str]:
    """Prefixes under which a website with this domain may be stored."""
    return [f"{scheme}{www}{domain}" for scheme in ("", "http://", "https://") for www in ("", "www.")]

"""A labelled set of record pairs for measuring the duplicate matcher, generated in code from a seed.

Each pair is a new record (what an AI proposes) and an existing one, labelled duplicate or not,
with the case it exercises and, for duplicates, the default rule meant to catch it. The cases are
the ones matchers get wrong: typos, case and legal suffixes; accents and non-Latin scripts; shared
free-mail domains (two people at gmail.com are not one person); the same person at two companies
(two records, rightly); different people with the same surname at one company; sibling companies
with similar names.

    from benchmarks.duplicate_pairs import generate, evaluate
    pairs = generate(1000, seed=17)
"""
from __future__ import annotations

import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from crmgate.rules.matching import Candidate, find_matches
from crmgate.rules.schema import Rulebook

FIRST = ["Anna", "Maria", "Lukas", "Sophie", "Oliver", "Emma", "Noah", "Amelia", "Liam", "Chloe", "Mateo",
         "Isabella", "Hiroshi", "Priya", "Arjun", "Fatima", "Omar", "Zoe", "Elias", "Ingrid", "Rafael", "Nadia",
         "Tobias", "Clara", "Viktor", "Leila", "Samuel", "Greta", "Dmitri", "Aisha", "Kwame", "Beatriz",
         "Henrik", "Yusuf", "Camille", "Wojciech", "Siobhan", "Mikael", "Esperanza", "Thabo"]
LAST = ["Schneider", "Okafor", "Lindqvist", "Fernandes", "Kowalczyk", "Nakamura", "Haddad", "Johansson",
        "Castellano", "Abernathy", "Whitfield", "Marchetti", "Oyelaran", "Vasquez", "Brennan", "Takahashi",
        "Richter", "Delacroix", "Sorensen", "Petrovic", "Gallagher", "Rasmussen", "Montgomery", "Achterberg",
        "Kaminski", "Valdivia", "Fitzgerald", "Hoffmann", "Ramanathan", "Kristiansen"]
ACCENTED = [("José", "García"), ("Zoë", "Müller"), ("Søren", "Kierkegård"), ("François", "Lefèvre"),
            ("Łukasz", "Wąsik"), ("Inés", "Peñalosa"), ("Jürgen", "Schäfer"), ("Thérèse", "Dubois"),
            ("Ağça", "Yılmaz"), ("Björn", "Åkesson")]
NON_LATIN_PEOPLE = [("伟", "王"), ("秀英", "李"), ("민준", "김"), ("서연", "이"), ("Иван", "Петров"),
                    ("Ольга", "Смирнова"), ("健太", "佐藤"), ("さくら", "高橋"), ("Νίκος", "Παπαδόπουλος"),
                    ("محمد", "العلي")]
STEMS = ["Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Nordwind", "Bluewave", "Hooli",
         "Vandelay", "Soylent", "Tyrell", "Cyberdyne", "Wonka", "Gringotts", "Pendleton", "Halcyon", "Meridian",
         "Quantum", "Zephyr", "Aurora", "Sterling", "Cobalt", "Evergreen", "Summit", "Keystone", "Lighthouse",
         "Redwood", "Silverline", "Tidewater", "Ironclad", "Brightpath", "Northstar", "Crescent", "Falconer"]
TRADES = ["Logistics", "Robotics", "Analytics", "Foods", "Pharma", "Energy", "Capital", "Textiles", "Software",
          "Consulting", "Maschinenbau", "Shipping", "Biotech", "Media", "Motors", "Insurance", "Retail"]
SUFFIXES = ["Inc", "Inc.", ", Inc.", "LLC", "Ltd", "Ltd.", "Limited", "GmbH", "AG", "S.A.", "SAS", "B.V.",
            "plc", "Corp.", "Corporation", "Co.", "Pty Ltd", "S.r.l.", "Oy", "AB", "GmbH & Co. KG"]
ACCENTED_COMPANIES = [("Müller Maschinenbau", "Muller Maschinenbau"), ("Société Générale Énergie", "Societe Generale Energie"),
                      ("Ñandú Alimentos", "Nandu Alimentos"), ("Łódź Tekstylia", "Lodz Tekstylia"),
                      ("Café Olé Roasters", "Cafe Ole Roasters"), ("Škoda Strojírny", "Skoda Strojirny"),
                      ("Øresund Shipping", "Oresund Shipping"), ("Zürich Präzision", "Zurich Prazision")]
NON_LATIN_COMPANIES = [("株式会社サクラ精機", "サクラ精機株式会社"), ("주식회사 한빛소프트", "한빛소프트"),
                       ("北京星河数据科技有限公司", "北京星河数据科技"), ("ООО Газпром Нефть", "Газпром Нефть"),
                       ("ПАО Северсталь", "Северсталь"), ("(주)새벽물류", "새벽물류 주식회사"),
                       ("上海云帆信息技术有限公司", "上海云帆信息技术"), ("Αθηναϊκή Ζυθοποιία Α.Ε.", "ΑΘΗΝΑΪΚΉ ΖΥΘΟΠΟΙΊΑ Α.Ε.")]
FREE = ["gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "gmx.de", "proton.me", "qq.com"]


@dataclass(frozen=True)
class Pair:
    object: str
    new: dict[str, Any]
    existing_object: str
    existing: dict[str, Any]
    duplicate: bool
    case: str
    rule: str | None = None  # the default rule meant to catch a duplicate


def _typo(r: random.Random, word: str) -> str:
    """One keyboard slip anywhere but the first letter: substitute, drop, double or swap."""
    i = r.randrange(1, len(word) - 1)
    kind = r.choice("sdit")
    if kind == "s":
        return word[:i] + r.choice("aeiounrst".replace(word[i].lower(), "")) + word[i + 1:]
    if kind == "d":
        return word[:i] + word[i + 1:]
    if kind == "i":
        return word[:i] + word[i] + word[i:]
    return word[:i] + word[i + 1] + word[i] + word[i + 2:]


def _domain(company: str) -> str:
    return "".join(ch for ch in company.lower() if ch.isascii() and ch.isalnum())[:18] + r_tld(company)


def r_tld(company: str) -> str:
    return [".com", ".de", ".io", ".co.uk", ".fr"][sum(map(ord, company)) % 5]


class _Gen:
    def __init__(self, seed: int) -> None:
        self.r = random.Random(seed)

    def company(self) -> str:
        return f"{self.r.choice(STEMS)} {self.r.choice(TRADES)}"

    def person(self) -> tuple[str, str]:
        return self.r.choice(FIRST), self.r.choice(LAST)

    # -- Accounts -------------------------------------------------------------------------------
    def acc_suffix(self) -> Pair:
        c = self.company()
        variant = self.r.choice([c.upper(), c.lower(), c]) + " " + self.r.choice(SUFFIXES)
        return Pair("Account", {"Name": variant.replace("  ", " ").replace(" ,", ",")}, "Account",
                    {"Name": f"{c} {self.r.choice(SUFFIXES)}"}, True, "legal suffix and case", "similar_name")

    def acc_typo(self) -> Pair:
        stem, trade = self.r.choice(STEMS), self.r.choice(TRADES)
        return Pair("Account", {"Name": f"{_typo(self.r, stem)} {trade}"}, "Account", {"Name": f"{stem} {trade} Inc"},
                    True, "typo", "similar_name")

    def acc_accent(self) -> Pair:
        a, b = self.r.choice(ACCENTED_COMPANIES)
        return Pair("Account", {"Name": b + " " + self.r.choice(SUFFIXES)}, "Account", {"Name": a}, True, "accents",
                    "similar_name")

    def acc_script(self) -> Pair:
        a, b = self.r.choice(NON_LATIN_COMPANIES)
        return Pair("Account", {"Name": b}, "Account", {"Name": a}, True, "non-Latin script", "similar_name")

    def acc_website(self) -> Pair:
        c = self.company()
        d = _domain(c)
        return Pair("Account", {"Name": f"{c.split()[0]} Group", "Website": self.r.choice([d, f"www.{d}"])}, "Account",
                    {"Name": f"{c} {self.r.choice(SUFFIXES)}", "Website": f"https://www.{d}/{self.r.choice(['', 'about', 'en/home'])}"},
                    True, "website forms", "same_website")

    def acc_sibling(self) -> Pair:
        stem = self.r.choice(STEMS)
        t1, t2 = self.r.sample(TRADES, 2)
        return Pair("Account", {"Name": f"{stem} {t1}", "Website": _domain(stem + t1)}, "Account",
                    {"Name": f"{stem} {t2} {self.r.choice(SUFFIXES)}", "Website": _domain(stem + t2)},
                    False, "sibling companies with similar names")

    def acc_region(self) -> Pair:
        c = self.company()
        region = self.r.choice(["US", "UK", "Asia", "Europe", "Nordic", "Japan", "Iberia", "Labs"])
        return Pair("Account", {"Name": f"{c} {region} {self.r.choice(SUFFIXES)}"}, "Account",
                    {"Name": f"{c} {self.r.choice(SUFFIXES)}"}, False, "a regional subsidiary")

    def acc_shared_host(self) -> Pair:
        a, b = self.r.sample(STEMS, 2)
        host = self.r.choice(["https://www.linkedin.com/company/", "https://sites.google.com/view/",
                              "https://www.facebook.com/"])
        return Pair("Account", {"Name": f"{a} Bakery", "Website": host + a.lower()}, "Account",
                    {"Name": f"{b} Florist", "Website": host + b.lower()}, False, "shared website host")

    # -- Contacts -------------------------------------------------------------------------------
    def con_case(self) -> Pair:
        f, last = self.person()
        d = _domain(self.company())
        e = f"{f}.{last}@{d}".lower()
        return Pair("Contact", {"FirstName": f, "LastName": last, "Email": self.r.choice([e.upper(), e.title(), f" {e} "])},
                    "Contact", {"FirstName": f, "LastName": last, "Email": e}, True, "email case", "same_email")

    def con_plus(self) -> Pair:
        f, last = self.person()
        d = _domain(self.company())
        return Pair("Contact", {"FirstName": f, "LastName": last, "Email": f"{f[0]}{last}+crm@{d}".lower()}, "Contact",
                    {"FirstName": f, "LastName": last, "Email": f"{f[0]}{last}@{d}".lower()}, True, "plus addressing",
                    "same_email")

    def con_typo(self) -> Pair:
        f, last = self.person()
        d = _domain(self.company())
        nf, nl = (_typo(self.r, f), last) if self.r.random() < 0.5 else (f, _typo(self.r, last))
        return Pair("Contact", {"FirstName": nf, "LastName": nl, "Email": f"{f}@{d}".lower()}, "Contact",
                    {"FirstName": f, "LastName": last, "Email": f"{f}.{last}@{d}".lower()}, True,
                    "name typo, same company domain", "same_person_same_domain")

    def con_accent(self) -> Pair:
        f, last = self.r.choice(ACCENTED)
        d = _domain(self.company())
        plain = f.encode("ascii", "ignore").decode() or "x"
        return Pair("Contact", {"FirstName": f.upper(), "LastName": last, "Email": f"{plain}@{d}".lower()}, "Contact",
                    {"FirstName": f, "LastName": last, "Email": f"info.{plain}@{d}".lower()}, True,
                    "accents and case", "same_person_same_domain")

    def con_script(self) -> Pair:
        f, last = self.r.choice(NON_LATIN_PEOPLE)
        d = _domain(self.company())
        n = self.r.randrange(100)
        return Pair("Contact", {"FirstName": f, "LastName": last, "Email": f"p{n}@{d}"}, "Contact",
                    {"FirstName": f" {f}", "LastName": last.upper(), "Email": f"sales{n}@{d}"}, True,
                    "non-Latin script", "same_person_same_domain")

    def con_gmail(self) -> Pair:
        f, last = self.person()
        dom = self.r.choice(FREE)
        return Pair("Contact", {"FirstName": f, "LastName": last, "Email": f"{f}{self.r.randrange(99)}@{dom}".lower()},
                    "Contact", {"FirstName": f, "LastName": last, "Email": f"{last}.{f}@{dom}".lower()}, False,
                    "same name at a free-mail domain")

    def con_two_companies(self) -> Pair:
        f, last = self.person()
        d1, d2 = _domain(self.company()), _domain(self.company())
        if d1 == d2:
            d2 = "other-" + d2
        return Pair("Contact", {"FirstName": f, "LastName": last, "Email": f"{f}.{last}@{d1}".lower()}, "Contact",
                    {"FirstName": f, "LastName": last, "Email": f"{f}.{last}@{d2}".lower()}, False,
                    "same person at two companies")

    def con_colleague(self) -> Pair:
        f1, f2 = self.r.sample(FIRST, 2)
        last = self.r.choice(LAST)
        d = _domain(self.company())
        return Pair("Contact", {"FirstName": f1, "LastName": last, "Email": f"{f1}@{d}".lower()}, "Contact",
                    {"FirstName": f2, "LastName": last, "Email": f"{f2}@{d}".lower()}, False,
                    "same surname at one company")

    # -- Leads ----------------------------------------------------------------------------------
    def lead_contact(self) -> Pair:
        f, last = self.person()
        c = self.company()
        e = f"{f}.{last}@{_domain(c)}".lower()
        return Pair("Lead", {"FirstName": f, "LastName": last, "Company": c, "Email": e.upper()}, "Contact",
                    {"FirstName": f, "LastName": last, "Email": e}, True, "lead for an existing contact", "same_email")

    def lead_company(self) -> Pair:
        f, last = self.person()
        c = self.company()
        return Pair("Lead", {"FirstName": f, "LastName": last, "Company": f"{c.upper()}, {self.r.choice(SUFFIXES)}"}, "Lead",
                    {"FirstName": f, "LastName": last, "Company": c}, True, "legal suffix, no email",
                    "same_person_same_company")

    def lead_typo(self) -> Pair:
        f, last = self.person()
        c = self.company()
        return Pair("Lead", {"FirstName": f, "LastName": _typo(self.r, last), "Company": c}, "Lead",
                    {"FirstName": f, "LastName": last, "Company": f"{c} {self.r.choice(SUFFIXES)}"}, True,
                    "name typo, no email", "same_person_same_company")

    def lead_other_company(self) -> Pair:
        f, last = self.person()
        c1, c2 = self.r.sample(STEMS, 2)
        t = self.r.choice(TRADES)
        return Pair("Lead", {"FirstName": f, "LastName": last, "Company": f"{c1} {t}"}, "Lead",
                    {"FirstName": f, "LastName": last, "Company": f"{c2} {t}"}, False, "same person at two companies")

    def lead_gmail(self) -> Pair:
        f, last = self.person()
        dom = self.r.choice(FREE)
        return Pair("Lead", {"FirstName": f, "LastName": last, "Company": self.company(), "Email": f"{f}.{last}1@{dom}".lower()},
                    "Contact", {"FirstName": f, "LastName": last, "Email": f"{f}.{last}2@{dom}".lower()}, False,
                    "same name at a free-mail domain")


#: (generator method, share of the set)
MIX: list[tuple[str, float]] = [
    ("acc_suffix", .05), ("acc_region", .04), ("acc_typo", .06), ("acc_accent", .04), ("acc_script", .04), ("acc_website", .05),
    ("acc_sibling", .06), ("acc_shared_host", .03),
    ("con_case", .06), ("con_plus", .04), ("con_typo", .07), ("con_accent", .04), ("con_script", .04),
    ("con_gmail", .04), ("con_two_companies", .06), ("con_colleague", .06),
    ("lead_contact", .04), ("lead_company", .04), ("lead_typo", .04), ("lead_other_company", .05),
    ("lead_gmail", .04),
]


def generate(n: int = 1000, *, seed: int = 17) -> list[Pair]:
    """``n`` labelled pairs in the proportions of :data:`MIX`, the same for the same seed."""
    g = _Gen(seed)
    total = sum(w for _, w in MIX)
    counts = [round(n * w / total) for _, w in MIX]
    counts[0] += n - sum(counts)
    pairs: list[Pair] = []
    for (name, _), k in zip(MIX, counts):
        make: Callable[[], Pair] = getattr(g, name)
        pairs += [make() for _ in range(k)]
    g.r.shuffle(pairs)
    return pairs


def evaluate(rulebook: Rulebook, pairs: list[Pair]) -> dict[str, dict[str, Any]]:
    """Precision and recall per rule (``Object.rule``) and per object (any rule).

    A rule's precision counts every pair it matched; its recall counts the duplicates meant for it.
    """
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    meant: Counter[str] = Counter()
    caught: Counter[str] = Counter()
    misses: dict[str, list[str]] = defaultdict(list)
    for p in pairs:
        section = rulebook.matching[p.object]
        result = find_matches(p.object, p.new, section, [Candidate(p.existing_object, "x", p.existing)])
        hit = {m.rule for m in result.matches}
        for rule in hit:
            (tp if p.duplicate else fp)[f"{p.object}.{rule}"] += 1
            if not p.duplicate:
                misses[f"{p.object}.{rule}"].append(f"false match ({p.case}): {p.new} ~ {p.existing}")
        (tp if p.duplicate and hit else fp if hit else Counter())[p.object] += 1
        if p.duplicate:
            meant[p.object] += 1
            caught[p.object] += bool(hit)
            if p.rule:
                meant[f"{p.object}.{p.rule}"] += 1
                caught[f"{p.object}.{p.rule}"] += p.rule in hit
                if p.rule not in hit:
                    misses[f"{p.object}.{p.rule}"].append(f"missed ({p.case}): {p.new} ~ {p.existing}")
    out: dict[str, dict[str, Any]] = {}
    for key in sorted(set(tp) | set(fp) | set(meant)):
        matched = tp[key] + fp[key]
        out[key] = {"precision": tp[key] / matched if matched else None,
                    "recall": caught[key] / meant[key] if meant[key] else None,
                    "matched": matched, "duplicates": meant[key], "examples": misses[key][:3]}
    return out

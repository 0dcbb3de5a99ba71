#!/usr/bin/env python3
"""Generate the bundled "jenny" corpus: small-vocabulary English built around agreement.

    python corpora/generate.py          # rewrites corpora/jenny/jenny.{train,valid,test}.txt
                                        # and corpora/jenny/jenny.probes.tsv
    python corpora/generate.py --stats  # measures those files (the counts in corpora/README.md)

Every clause has a subject ("Jenny", "the old king", "the girls", "Jenny and Peter") that
controls words later in the clause: the verb (has/have, is/are, was/were), a possessive
(his/her/their) and a reflexive (himself/herself/themselves). Between the subject and those
words the grammar puts prepositional phrases and relative clauses full of *distractor*
nouns of another gender or number, so the nearest noun is often the wrong guide:

    Jenny , who met Peter near the old mill , has her pen .

The generator records each agreeing word as a `Site` (where it is, which subject head it
agrees with); `probes()` turns a sentence into minimal pairs (prefix, correct, wrong,
distance, attractors) for measuring agreement accuracy. Stdlib only and deterministic: each
split draws from its own `random.Random` seeded with a string, so the output depends on the
options only (not on PYTHONHASHSEED, the platform or the order the splits are written).
"""

from __future__ import annotations

import argparse
import random
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

DEFAULT_OUT = Path(__file__).resolve().parent / "jenny"
SPLITS = ("train", "valid", "test")

# ---------------------------------------------------------------------------------------
# Lexicon. A word has one role only (no "watch" as both noun and verb), so a token alone
# says whether it is a noun; `probes()` relies on that to find intervening nouns.


def _words(text: str) -> list[str]:
    return text.split()


def _tuples(text: str) -> list[tuple[str, ...]]:
    return [tuple(item.split("/")) for item in text.split()]


FEMALE_NAMES = _words("""Jenny Mary Anna Sarah Emma Lucy Alice Kate Helen Julia Laura Susan
    Emily Grace Claire Rose Sophie Linda Maria Nora Olivia Ruth Clara Ellen Amy""")
MALE_NAMES = _words("""Peter John Tom David James Paul Mark George Henry Jack Frank Robert
    Michael Simon Daniel Oliver Edward Martin Steven Arthur Walter Harry Victor Luke Adam""")
# Jenny and Peter are the tool's own example: let them turn up more often than the others.
FEMALE_POOL = FEMALE_NAMES + ["Jenny"] * 3
MALE_POOL = MALE_NAMES + ["Peter"] * 3

# (masculine singular, feminine singular, masculine plural, feminine plural)
GENDERED = _tuples("""boy/girl/boys/girls man/woman/men/women king/queen/kings/queens
    prince/princess/princes/princesses father/mother/fathers/mothers
    brother/sister/brothers/sisters uncle/aunt/uncles/aunts son/daughter/sons/daughters
    grandfather/grandmother/grandfathers/grandmothers nephew/niece/nephews/nieces
    waiter/waitress/waiters/waitresses actor/actress/actors/actresses monk/nun/monks/nuns
    gentleman/lady/gentlemen/ladies""")
# People of no grammatical gender: plurals take "their"; a singular "the farmer" has no
# his/her of its own, so it appears only as a distractor, never as a subject.
NEUTRAL = _tuples("""farmer/farmers teacher/teachers doctor/doctors nurse/nurses baker/bakers
    sailor/sailors soldier/soldiers student/students neighbour/neighbours visitor/visitors
    driver/drivers painter/painters singer/singers hunter/hunters fisherman/fishermen
    child/children pupil/pupils cousin/cousins friend/friends stranger/strangers
    guard/guards writer/writers player/players dancer/dancers""")
KIN = _tuples("""father/fathers mother/mothers brother/brothers sister/sisters uncle/uncles
    aunt/aunts grandfather/grandfathers grandmother/grandmothers son/sons daughter/daughters
    nephew/nephews niece/nieces cousin/cousins friend/friends neighbour/neighbours
    teacher/teachers""")
THINGS = _tuples("""pen/pens pencil/pencils book/books kite/kites ball/balls hat/hats
    coat/coats bike/bikes bag/bags key/keys umbrella/umbrellas letter/letters map/maps
    cup/cups basket/baskets lamp/lamps scarf/scarves watch/watches shoe/shoes glove/gloves
    ring/rings camera/cameras picture/pictures toy/toys box/boxes boat/boats guitar/guitars
    drum/drums violin/violins ticket/tickets notebook/notebooks ribbon/ribbons
    jacket/jackets chair/chairs blanket/blankets clock/clocks wallet/wallets radio/radios
    shirt/shirts bucket/buckets ladder/ladders spoon/spoons kettle/kettles mirror/mirrors
    flute/flutes""")
PETS = _tuples("""dog/dogs cat/cats horse/horses puppy/puppies kitten/kittens goat/goats
    pony/ponies rabbit/rabbits parrot/parrots""")
PLACES = _tuples("""park/parks garden/gardens school/schools village/villages farm/farms
    church/churches station/stations library/libraries forest/forests castle/castles
    bakery/bakeries kitchen/kitchens field/fields museum/museums square/squares shop/shops
    barn/barns cottage/cottages market/markets harbour/harbours orchard/orchards
    theatre/theatres hospital/hospitals house/houses mill/mills tower/towers
    stable/stables hall/halls inn/inns bridge/bridges""")

PERSON_ADJ = _words("""old young tall little kind quiet clever brave friendly shy busy rich
    poor famous strange polite""")
THING_ADJ = _words("new old red blue green black white little big small broken heavy "
                   "favourite wooden yellow brown")
PET_ADJ = _words("old little black white brown young big lazy")
PLACE_ADJ = _words("old new big little quiet busy small green dark empty")
PLURAL_DET = ["the"] * 8 + _words("some two three many")  # mostly "the": number stays hidden

# Multi-word entries ("waited for") are split into tokens when added.
MET = ["met", "saw", "helped", "visited", "called", "followed", "thanked", "watched",
       "greeted", "admired", "remembered", "invited", "liked", "knew", "asked", "chased",
       "warned", "heard", "waited for", "talked to", "danced with", "played with",
       "laughed at", "argued with", "worked with"]
MET_PARTICIPLE = ["met", "seen", "helped", "visited", "invited", "taught", "watched",
                  "followed", "called", "thanked", "admired", "trusted", "talked to",
                  "worked with"]
ADVERBS = ["never", "often"]  # these two read well with every participle above
THING_ING = ["carrying", "holding", "looking for", "searching for", "hiding", "cleaning",
             "packing", "selling", "looking at"]
THING_PAST = ["lost", "found", "sold", "forgot", "dropped", "hid", "carried", "cleaned",
              "packed", "brought", "took", "bought", "looked for", "left", "picked up"]
THING_PARTICIPLE = ["lost", "found", "sold", "forgotten", "dropped", "hidden", "cleaned",
                    "packed", "brought", "taken", "bought", "looked for", "left"]
PET_ING = ["walking", "feeding", "washing", "brushing", "looking for", "playing with"]
PET_PAST = ["fed", "walked", "washed", "brushed", "lost", "found", "sold", "looked for",
            "played with"]
KIN_PAST = ["visited", "called", "met", "helped", "thanked", "missed", "waited for",
            "wrote to", "talked to", "looked for"]
GIVE = ["gave", "showed", "lent", "sold"]
# Reflexive verbs (past tense = participle for all of these) and what may follow the pronoun.
REFLEXIVE = {"hurt": "place", "cut": "place", "blamed": "", "enjoyed": "place",
             "introduced": "person", "taught": "skill", "bought": "thing", "washed": "",
             "dressed": ""}
SKILLS = ["to swim", "to read", "to sing", "to dance", "to paint", "to cook", "to ride"]
FEELING = ["proud of", "pleased with", "angry with", "happy with", "ashamed of", "tired of"]
STATE = _words("happy tired hungry sad busy ready asleep late cold sick lonely afraid")
PLACE_PREP = _words("near from in behind beside outside")  # "the boys from the village"
LOCATION_PREP = _words("near in behind beside outside")     # "lost her keys in the park"
PERSON_PREP = _words("with near behind beside")


def _noun_table() -> dict[str, tuple[str, str, bool]]:
    """word -> (number "sg"/"pl", gender "m"/"f"/"n", is_person)."""
    table = {}
    for name in FEMALE_NAMES:
        table[name] = ("sg", "f", True)
    for name in MALE_NAMES:
        table[name] = ("sg", "m", True)
    for m_sg, f_sg, m_pl, f_pl in GENDERED:
        table.update({m_sg: ("sg", "m", True), f_sg: ("sg", "f", True),
                      m_pl: ("pl", "m", True), f_pl: ("pl", "f", True)})
    for sg, pl in NEUTRAL:
        table.update({sg: ("sg", "n", True), pl: ("pl", "n", True)})
    for sg, pl in THINGS + PETS + PLACES:
        table.update({sg: ("sg", "n", False), pl: ("pl", "n", False)})
    return table


NOUNS = _noun_table()

# ---------------------------------------------------------------------------------------
# Agreement. `agr` is (number, gender) of a subject; a paradigm maps it to a word.

PARADIGMS = {
    "have": {"sg": "has", "pl": "have"},
    "be": {"sg": "is", "pl": "are"},
    "was": {"sg": "was", "pl": "were"},
    "poss": {"m": "his", "f": "her", "pl": "their"},
    "refl": {"m": "himself", "f": "herself", "pl": "themselves"},
}
VERB_KINDS = ("have", "be", "was")


def form(kind: str, agr: tuple[str, str]) -> str | None:
    """The word of paradigm `kind` agreeing with `agr`; None when there is none (a
    genderless singular like "the farmer" has no his/her)."""
    number, gender = agr
    table = PARADIGMS[kind]
    if number == "pl":
        return table["pl"]
    return table["sg"] if kind in VERB_KINDS else table.get(gender)


def _differs(a: tuple[str, str], b: tuple[str, str]) -> bool:
    """Would these two subjects take a different verb or possessive?"""
    return a[0] != b[0] or (a[0] == "sg" and a[1] != b[1])


@dataclass(frozen=True)
class Site:
    index: int  # position of the agreeing word
    head: int   # position of its subject's head noun (the first conjunct if coordinated)
    kind: str   # paradigm: "have", "be", "was", "poss" or "refl"


@dataclass(frozen=True)
class Sentence:
    tokens: tuple[str, ...]
    sites: tuple[Site, ...]

    def text(self) -> str:
        return " ".join(self.tokens)


class Probe(NamedTuple):
    prefix: tuple[str, ...]  # the sentence up to (not including) the agreeing word
    correct: str
    wrong: str
    distance: int            # index of the agreeing word minus index of the subject head
    kind: str
    attractor: bool          # True when `wrong` is what an intervening noun would demand
    attractors: int = 0      # intervening nouns of the other number or gender (disagreeing)


def probes(sentence: Sentence) -> list[Probe]:
    """One minimal pair per agreeing word of `sentence`.

    The wrong word is the one the *nearest intervening noun that disagrees* would demand
    (what a "copy the last noun" heuristic predicts): in "Jenny , who met Peter , has her"
    the probe for "her" is her/his. Without such a noun it is the nearest contrast:
    has<->have, is<->are, was<->were, his<->her, himself<->herself, and for their/themselves
    the singular of the head noun's gender (his/himself for a genderless group).
    """
    out = []
    tokens = sentence.tokens
    for site in sentence.sites:
        correct = tokens[site.index]
        wrong = None
        count = 0
        for word in reversed(tokens[site.head + 1:site.index]):
            entry = NOUNS.get(word)
            if entry is None or (site.kind not in VERB_KINDS and not entry[2]):
                continue  # not a noun, or a thing/place, which has no his/her/their here
            candidate = form(site.kind, entry[:2])
            if candidate is not None and candidate != correct:
                count += 1  # every disagreeing noun counts; the nearest sets `wrong`
                wrong = wrong or candidate
        attractor = wrong is not None
        if wrong is None:
            if site.kind in VERB_KINDS:
                number = "sg" if correct == PARADIGMS[site.kind]["pl"] else "pl"
                wrong = PARADIGMS[site.kind][number]
            elif correct in (PARADIGMS[site.kind]["m"], PARADIGMS[site.kind]["f"]):
                wrong = PARADIGMS[site.kind]["f" if correct == PARADIGMS[site.kind]["m"] else "m"]
            else:
                gender = NOUNS[tokens[site.head]][1]
                wrong = PARADIGMS[site.kind]["f" if gender == "f" else "m"]
        out.append(Probe(tokens[:site.index], correct, wrong, site.index - site.head,
                         site.kind, attractor, count))
    return out


# ---------------------------------------------------------------------------------------
# Grammar. The writer appends tokens and records a Site whenever it emits an agreeing word.

P_CONTRAST = 0.7          # how often a distractor is chosen to disagree with its subject
MAX_VERB_DISTANCE = 13    # subjects longer than this are redrawn: distances stay <= ~16
P_COORD_CLAUSE = 0.22     # "Jenny has her pen and Peter has his pencil ."
P_COORD_SUBJECT = 0.15    # "Jenny and Peter have their books ."
# (kind of subject modifiers, weight): none, prepositional phrases, relative clause, both
SUBJECT_SHAPES = [("", 34), ("pp", 18), ("rel", 34), ("pp+rel", 14)]
PREDICATES = [("possess", 18), ("progressive", 14), ("past", 13), ("perfect", 10),
              ("reflexive", 13), ("feeling", 10), ("kin", 8), ("state", 7), ("give", 7)]


class _Writer:
    def __init__(self, rng: random.Random):
        self.rng = rng
        self.tokens: list[str] = []
        self.sites: list[Site] = []

    # -- helpers ----------------------------------------------------------------------
    def add(self, text: str) -> int:
        """Append one or more words; return the index of the last one."""
        self.tokens.extend(text.split())
        return len(self.tokens) - 1

    def pick(self, seq):
        return self.rng.choice(seq)

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def weighted(self, options: list[tuple[str, int]]) -> str:
        return self.rng.choices([o for o, _ in options], [w for _, w in options])[0]

    def agree(self, kind: str, agr: tuple[str, str], head: int) -> None:
        self.sites.append(Site(len(self.tokens), head, kind))
        self.tokens.append(form(kind, agr))

    def noun_phrase(self, noun: str, adjectives: list[str], det: str = "the",
                    p_adj: float = 0.3) -> int:
        """det [adj] noun; det "a" becomes "an" before a vowel. Returns the noun's index."""
        adj = self.pick(adjectives) if self.chance(p_adj) else None
        if det == "a":
            det = "an" if (adj or noun)[0] in "aeiou" else "a"
        self.add(det)
        if adj:
            self.add(adj)
        return self.add(noun)

    # -- sentences and clauses ----------------------------------------------------------
    def sentence(self) -> Sentence:
        self.tokens, self.sites = [], []
        agr = self.clause(None)
        if self.chance(P_COORD_CLAUSE):
            conjunction = self.pick(["and", "and", ", but", "while"])
            self.add(conjunction)
            # The second subject usually disagrees with the first. After a bare "and" it is
            # not itself coordinated: "... her pen and Peter and Mary have ..." reads badly.
            self.clause(agr, coordinate=conjunction != "and")
        self.add(".")
        return Sentence(tuple(self.tokens), tuple(self.sites))

    def clause(self, contrast, coordinate: bool = True) -> tuple[str, str]:
        start, n_sites = len(self.tokens), len(self.sites)
        for _ in range(20):
            head, agr = self.subject(contrast, coordinate)
            if len(self.tokens) - head <= MAX_VERB_DISTANCE:
                break  # (rarely more than two tries; after 20 the long one is kept)
            del self.tokens[start:], self.sites[n_sites:]  # too long: draw another subject
        self.predicate(head, agr)
        return agr

    def subject(self, contrast, coordinate: bool) -> tuple[int, tuple[str, str]]:
        if coordinate and self.chance(P_COORD_SUBJECT):
            head, first = self.controller(contrast)
            self.add("and")
            self.controller(first)   # often the other gender: "Jenny and Peter"
            # the gender is only used for the default wrong word of a "their" probe
            agr, commas = ("pl", first[1]), True
        else:
            head, agr = self.controller(contrast)
            commas = self.tokens[head][0].isupper() or self.chance(0.4)
        shape = self.weighted(SUBJECT_SHAPES)
        if "pp" in shape:
            for _ in range(1 if self.chance(0.7) else 2):
                self.prepositional(agr, depth=1)
        if "rel" in shape:
            # names and coordinations take the non-restrictive ", who ... ,";
            # common nouns either that or a restrictive "who"/"that" clause
            self.relative(head, agr, commas=commas, depth=1)
        return head, agr

    # -- noun phrases ---------------------------------------------------------------------
    def controller(self, contrast=None) -> tuple[int, tuple[str, str]]:
        """A noun phrase that can be a subject: a name, "the old king", "the girls".

        With `contrast` (the features of another subject), the phrase disagrees with it
        P_CONTRAST of the time: these are the distractors."""
        want_different = contrast is not None and self.chance(P_CONTRAST)
        start = len(self.tokens)
        while True:
            r, gender = self.rng.random(), self.pick("mf")
            if r < 0.45:
                head = self.add(self.pick(FEMALE_POOL if gender == "f" else MALE_POOL))
                agr = ("sg", gender)
            elif r < 0.70:
                masculine, feminine, _, _ = self.pick(GENDERED)
                head = self.noun_phrase(feminine if gender == "f" else masculine, PERSON_ADJ)
                agr = ("sg", gender)
            elif r < 0.88:
                _, _, masculine, feminine = self.pick(GENDERED)
                head = self.noun_phrase(feminine if gender == "f" else masculine, PERSON_ADJ,
                                        self.pick(PLURAL_DET))
                agr = ("pl", gender)
            else:
                head = self.noun_phrase(self.pick(NEUTRAL)[1], PERSON_ADJ,
                                        self.pick(PLURAL_DET))
                agr = ("pl", "n")
            if not want_different or _differs(agr, contrast):
                return head, agr
            del self.tokens[start:]

    def person(self, contrast, depth: int) -> None:
        """A person in object position, a distractor: maybe with its own modifier."""
        if self.chance(0.15):  # a genderless singular: a number distractor only
            head = self.noun_phrase(self.pick(NEUTRAL)[0], PERSON_ADJ, self.pick(["the", "a"]))
            agr = ("sg", "n")
        else:
            head, agr = self.controller(contrast)
        if depth > 0 and self.chance(0.25):
            # A nested relative needs a common noun that has his/her/their: "Peter that
            # lost his keys" is not English, and ", who" here would double the commas.
            if self.tokens[head][0].isupper() or agr == ("sg", "n") or self.chance(0.5):
                self.prepositional(agr, depth - 1)
            else:  # the girl that lost her keys: a nested clause with its own agreement
                self.relative(head, agr, commas=False, depth=depth - 1)

    def place(self, depth: int) -> None:
        plural = self.chance(0.15)
        self.noun_phrase(self.pick(PLACES)[plural], PLACE_ADJ)
        if depth > 0 and self.chance(0.15):  # near the mill behind the old church
            self.add(self.pick(PLACE_PREP))
            self.place(depth - 1)

    def prepositional(self, contrast, depth: int) -> None:
        if self.chance(0.55):
            self.add(self.pick(PLACE_PREP))
            self.place(depth)
        else:
            self.add(self.pick(PERSON_PREP))
            self.person(contrast, depth)

    def relative(self, head: int, agr, commas: bool, depth: int) -> None:
        """A relative clause on the noun at `head`. In a subject relative ("who has lost
        her keys") the words still agree with `head`, through "who"; an object relative
        ("who the boys have never met") brings a subject of its own, a distractor."""
        if commas:
            self.add(",")
        self.add("who" if commas else self.pick(["who", "that"]))
        r = self.rng.random()
        if r < 0.45:    # who met the farmer near the mill
            self.add(self.pick(MET))
            self.person(agr, depth)
            if self.chance(0.25):
                self.location()
        elif r < 0.75:  # who has lost her keys
            self.predicate(head, agr, short=True)
        else:           # who the boys have never met
            head2, agr2 = self.controller(agr)
            if self.chance(0.5):
                self.agree("have", agr2, head2)
                if self.chance(0.5):
                    self.add(self.pick(ADVERBS))
                self.add(self.pick(MET_PARTICIPLE))
            else:
                self.add(self.pick(MET))
            if self.chance(0.25):
                self.location()
        if commas:
            self.add(",")

    def location(self) -> None:
        self.add(self.pick(LOCATION_PREP))
        self.place(0)

    def possession(self, head: int, agr, pets: bool = False) -> None:
        """her [new] pen / their old dogs."""
        self.agree("poss", agr, head)
        words = self.pick(PETS if pets else THINGS)
        if self.chance(0.3):
            self.add(self.pick(PET_ADJ if pets else THING_ADJ))
        # plural things mostly with plural owners: "their kites", "her kite"
        self.add(words[self.chance(0.65 if agr[0] == "pl" else 0.3)])

    # -- predicates -----------------------------------------------------------------------
    def predicate(self, head: int, agr, short: bool = False) -> None:
        """A verb phrase agreeing with the subject at `head`. `short` (inside a relative
        clause) leaves off trailing phrases so the clause stays a modifier."""
        kind = self.weighted(PREDICATES)
        if short and kind == "give":
            kind = "possess"
        getattr(self, "pred_" + kind)(head, agr, short)

    def be(self, head: int, agr) -> None:
        self.agree(self.pick(["be", "was"]), agr, head)

    def maybe_location(self, short: bool) -> None:
        if not short and self.chance(0.25):
            self.location()

    def pred_possess(self, head, agr, short):         # has her pen [and her pencil]
        self.agree("have", agr, head)
        self.possession(head, agr, pets=self.chance(0.2))
        if not short and self.chance(0.15):
            self.add("and")
            self.possession(head, agr)

    def pred_progressive(self, head, agr, short):     # is carrying his bag
        self.be(head, agr)
        pets = self.chance(0.25)
        self.add(self.pick(PET_ING if pets else THING_ING))
        self.possession(head, agr, pets)
        self.maybe_location(short)

    def pred_past(self, head, agr, short):            # lost her keys in the park
        pets = self.chance(0.2)
        self.add(self.pick(PET_PAST if pets else THING_PAST))
        self.possession(head, agr, pets)
        self.maybe_location(short)

    def pred_perfect(self, head, agr, short):         # have found their kites
        self.agree("have", agr, head)
        self.add(self.pick(THING_PARTICIPLE))
        self.possession(head, agr)
        self.maybe_location(short)

    def pred_reflexive(self, head, agr, short):       # [has] hurt herself in the garden
        if self.chance(0.4):
            self.agree("have", agr, head)
        verb = self.pick(sorted(REFLEXIVE))
        self.add(verb)
        self.agree("refl", agr, head)
        tail = REFLEXIVE[verb]
        if tail == "skill":
            self.add(self.pick(SKILLS))
        elif tail == "thing":
            self.noun_phrase(self.pick(THINGS)[0], THING_ADJ, "a")
        elif tail == "place" and (verb == "enjoyed" or (not short and self.chance(0.4))):
            self.location()
        elif tail == "person" and not short:
            self.add("to")
            self.person(agr, 0)

    def pred_feeling(self, head, agr, short):         # was proud of himself
        self.be(head, agr)
        self.add(self.pick(FEELING))
        if self.chance(0.4):
            self.agree("refl", agr, head)
        else:
            self.possession(head, agr, pets=self.chance(0.2))

    def pred_kin(self, head, agr, short):             # visited her aunt
        self.add(self.pick(KIN_PAST))
        self.agree("poss", agr, head)
        self.add(self.pick(KIN)[self.chance(0.3)])
        self.maybe_location(short)

    def pred_state(self, head, agr, short):           # were tired / is in the garden
        self.be(head, agr)
        if self.chance(0.5):
            self.add(self.pick(STATE))
        else:
            self.add("in")
            self.place(0)

    def pred_give(self, head, agr, short):            # gave his old coat to the girls
        self.add(self.pick(GIVE))
        self.possession(head, agr)
        self.add("to")
        self.person(agr, 0)


def generate(n: int, seed: int, stream: str) -> list[Sentence]:
    """`n` sentences from the random stream named `stream` ("train", "valid", ...)."""
    writer = _Writer(random.Random(f"jenny/{seed}/{stream}"))
    return [writer.sentence() for _ in range(n)]


# ---------------------------------------------------------------------------------------
# Command line: write the files, or measure them.


def write(out: Path, seed: int, sizes: dict[str, int], n_probes: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for split in SPLITS:
        lines = [s.text() + "\n" for s in generate(sizes[split], seed, split)]
        (out / f"jenny.{split}.txt").write_text("".join(lines), encoding="utf-8", newline="\n")
    rows = []
    for sentence in generate(n_probes, seed, "probes"):
        for p in probes(sentence):
            rows.append(f"{' '.join(p.prefix)}\t{p.correct}\t{p.wrong}\t{p.distance}"
                        f"\t{p.attractors}\n")
    (out / "jenny.probes.tsv").write_text("".join(rows), encoding="utf-8", newline="\n")


def stats(out: Path, seed: int, sizes: dict[str, int], n_probes: int) -> str:
    """Markdown tables measured from the files in `out` (and, for the agreement sites,
    the sentences regenerated with the same options)."""
    lines = ["| file | lines | tokens (+1 <eos> per line) | distinct types | bytes |",
             "|---|---:|---:|---:|---:|"]
    texts, all_types = {}, set()
    for name in [f"jenny.{s}.txt" for s in SPLITS]:
        data = (out / name).read_bytes()
        rows = data.decode("utf-8").splitlines()
        texts[name] = rows
        types = {w for row in rows for w in row.split()}
        all_types |= types
        n_tokens = sum(len(row.split()) + 1 for row in rows)
        lines.append(f"| {name} | {len(rows):,} | {n_tokens:,} | {len(types):,} | {len(data):,} |")
    probe_rows = (out / "jenny.probes.tsv").read_text(encoding="utf-8").splitlines()
    lines.append(f"| jenny.probes.tsv | {len(probe_rows):,} | | | "
                 f"{(out / 'jenny.probes.tsv').stat().st_size:,} |")
    train = set(texts["jenny.train.txt"])
    test = texts["jenny.test.txt"]
    train_types = {w for row in train for w in row.split()}
    unseen = {w for name in texts for row in texts[name] for w in row.split()} - train_types
    lines += ["", f"- distinct types over all three splits: {len(all_types):,} "
              f"({len(unseen)} of them missing from train)",
              f"- test sentences that also occur in train: "
              f"{sum(row in train for row in test):,} of {len(test):,}",
              f"- distinct sentences in train: {len(train):,} of "
              f"{len(texts['jenny.train.txt']):,}"]
    lengths = sorted(len(row.split()) for row in texts["jenny.train.txt"])
    total = sum(f.stat().st_size for f in out.iterdir() if f.name.startswith("jenny."))
    lines += [f"- train sentence length (without <eos>): {lengths[0]} to {lengths[-1]}, "
              f"mean {sum(lengths) / len(lengths):.1f}, median {lengths[len(lengths) // 2]}",
              f"- all jenny.* files together: {total:,} bytes"]
    # distances of every agreement site in train, and of the probe file
    site_probes = [p for s in generate(sizes["train"], seed, "train") for p in probes(s)]
    by_dist = Counter(p.distance for p in site_probes)
    with_attr = Counter(p.distance for p in site_probes if p.attractor)
    probe_dist = Counter(int(row.split("\t")[3]) for row in probe_rows)
    lines += ["", "| distance | train sites | % | of which with attractor | probes |",
              "|---:|---:|---:|---:|---:|"]
    for d in sorted(by_dist):
        lines.append(f"| {d} | {by_dist[d]:,} | {100 * by_dist[d] / len(site_probes):.1f} "
                     f"| {with_attr[d]:,} | {probe_dist[d]:,} |")
    kinds = Counter(p.kind for p in site_probes)
    n_attr = sum(with_attr.values())
    lines += ["", f"- train agreement sites: {len(site_probes):,} "
              f"({n_attr:,} = {100 * n_attr / len(site_probes):.1f}% with an attractor); "
              "by kind: " + ", ".join(f"{k} {kinds[k]:,}" for k in PARADIGMS)]
    lines += [""] + _probe_summary(generate(n_probes, seed, "probes"))
    return "\n".join(lines)


def _probe_summary(sentences: list[Sentence]) -> list[str]:
    """How hard the probes are: attractors, first agreeing word of a subject (no earlier
    agreeing word of the same subject to copy from), and the score of a model that copies
    the nearest preceding noun."""
    n = attractors = first = 0
    nearest_right = Counter()  # attractor (bool) -> rows the copy rule gets right
    for s in sentences:
        for site, p in zip(s.sites, probes(s)):
            n += 1
            attractors += p.attractor
            first += not any(t.head == site.head and t.index < site.index for t in s.sites)
            for word in reversed(s.tokens[:site.index]):
                entry = NOUNS.get(word)
                if entry and (site.kind in VERB_KINDS or entry[2]) and form(site.kind, entry[:2]):
                    nearest_right[p.attractor] += form(site.kind, entry[:2]) == p.correct
                    break
    return [f"- probes: {n:,}; with an attractor {attractors:,} ({100 * attractors / n:.1f}%); "
            f"first agreeing word of their subject {first:,}",
            f"- a copy-the-nearest-noun rule scores {100 * nearest_right.total() / n:.1f}% "
            f"overall, {100 * nearest_right[True] / attractors:.1f}% on the attractor rows"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=1, help="random seed (default 1)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help="output directory (default corpora/jenny next to this script)")
    parser.add_argument("--train-sentences", type=int, default=26000)
    parser.add_argument("--valid-sentences", type=int, default=1300)
    parser.add_argument("--test-sentences", type=int, default=1300)
    parser.add_argument("--probe-sentences", type=int, default=2000,
                        help="sentences whose agreement sites become jenny.probes.tsv")
    parser.add_argument("--stats", action="store_true",
                        help="measure the files already in --out instead of writing them")
    args = parser.parse_args(argv)
    sizes = {"train": args.train_sentences, "valid": args.valid_sentences,
             "test": args.test_sentences}
    if min(*sizes.values(), args.probe_sentences) < 0:
        parser.error("sentence counts must be >= 0")
    if args.stats:
        print(stats(args.out, args.seed, sizes, args.probe_sentences))
    else:
        write(args.out, args.seed, sizes, args.probe_sentences)
    return 0


if __name__ == "__main__":
    sys.exit(main())

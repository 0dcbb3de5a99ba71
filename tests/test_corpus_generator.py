"""The bundled corpus generator: deterministic, grammatical agreement, committed files current.

The agreement checks below do not trust the generator's own paradigm tables: they re-derive
each subject's number and gender from the word lists and spell out the expected words here.
"""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "corpora" / "generate.py"
COMMITTED = ROOT / "corpora" / "jenny"
FILES = ["jenny.train.txt", "jenny.valid.txt", "jenny.test.txt", "jenny.probes.tsv"]
SMALL = ["--train-sentences", "300", "--valid-sentences", "30", "--test-sentences", "30",
         "--probe-sentences", "40"]


def _load_generator():
    spec = importlib.util.spec_from_file_location("jenny_generate", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


gen = _load_generator()

# Spelled out here, not taken from gen.PARADIGMS, so a wrong table there cannot agree with itself.
EXPECTED = {
    "have": {("sg", "m"): "has", ("sg", "f"): "has", "pl": "have"},
    "be": {("sg", "m"): "is", ("sg", "f"): "is", "pl": "are"},
    "was": {("sg", "m"): "was", ("sg", "f"): "was", "pl": "were"},
    "poss": {("sg", "m"): "his", ("sg", "f"): "her", "pl": "their"},
    "refl": {("sg", "m"): "himself", ("sg", "f"): "herself", "pl": "themselves"},
}
AGREEING = {"has", "have", "is", "are", "was", "were", "his", "her", "their",
            "himself", "herself", "themselves"}
# Words that may stand between a subject's head noun and what precedes its phrase.
PRE_HEAD = {"the", "a", "an", "some", "two", "three", "many"} | set(gen.PERSON_ADJ)


def _subject_words():
    """word -> (number, gender) for every noun that may head a subject."""
    table = {name: ("sg", "f") for name in gen.FEMALE_NAMES}
    table.update({name: ("sg", "m") for name in gen.MALE_NAMES})
    for m_sg, f_sg, m_pl, f_pl in gen.GENDERED:
        table.update({m_sg: ("sg", "m"), f_sg: ("sg", "f"), m_pl: ("pl", "m"), f_pl: ("pl", "f")})
    table.update({pl: ("pl", "n") for _, pl in gen.NEUTRAL})
    return table


SUBJECT_WORDS = _subject_words()


def _expected_word(tokens, site):
    number, gender = SUBJECT_WORDS[tokens[site.head]]
    if tokens[site.head + 1] == "and":  # "Jenny and Peter": a coordination is plural
        number = "pl"
    return EXPECTED[site.kind]["pl" if number == "pl" else (number, gender)]


def _word_before_phrase(tokens, head):
    """The word before the noun phrase ending at `head` (None at the sentence start)."""
    start = head
    while start > 0 and tokens[start - 1] in PRE_HEAD:
        start -= 1
    return tokens[start - 1] if start > 0 else None


def _begins_clause(tokens, i):
    """Is tokens[i] a subject noun opening a clause, and not a second conjunct?"""
    return tokens[i] in SUBJECT_WORDS and _word_before_phrase(tokens, i) in {
        None, "but", "while", "who", "that"}


def _in_subject_position(tokens, head):
    """Begins a clause (sentence start, after and/but/while, or "who the boys ...") or is
    the antecedent of a relative clause that follows it directly."""
    after = list(tokens[head + 1:head + 3])
    return (_word_before_phrase(tokens, head) in {None, "and", "but", "while", "who", "that"}
            or after[:1] in (["who"], ["that"]) or after == [",", "who"])


@pytest.mark.parametrize("seed", [1, 7])
def test_every_agreeing_word_agrees_with_its_subject(seed):
    sentences = gen.generate(3000, seed, "train")
    n_sites = 0
    for s in sentences:
        positions = [i for i, w in enumerate(s.tokens) if w in AGREEING]
        # every has/his/themselves/... is an agreement site, and nothing else is
        assert sorted(site.index for site in s.sites) == positions, s.text()
        for site in s.sites:
            assert site.head < site.index, s.text()
            assert _in_subject_position(s.tokens, site.head), (s.text(), site)
            assert s.tokens[site.index] == _expected_word(s.tokens, site), (s.text(), site)
            if site.kind in ("have", "be", "was") and _begins_clause(s.tokens, site.index - 1):
                # "who the boys have met": a verb right after a clause's first noun is its own
                assert site.head == site.index - 1, (s.text(), site)
        n_sites += len(s.sites)
    assert n_sites > 2 * len(sentences)  # the corpus is mostly agreement, as intended


def test_distances_span_one_to_about_fifteen_with_distractors_at_long_range():
    found = [p for s in gen.generate(3000, 1, "valid") for p in gen.probes(s)]
    distances = {p.distance for p in found}
    assert set(range(1, 15)) <= distances and max(distances) <= 20
    long_range = [p for p in found if p.distance >= 8]
    assert sum(p.attractor for p in long_range) > 0.5 * len(long_range)


def test_probes_take_the_wrong_word_from_the_nearest_disagreeing_noun():
    def sentence(text, *sites):
        return gen.Sentence(tuple(text.split()), tuple(gen.Site(*s) for s in sites))

    relative = sentence("Jenny , who met Peter , has her pen .", (6, 0, "have"), (7, 0, "poss"))
    assert [(p.correct, p.wrong, p.distance, p.attractor) for p in gen.probes(relative)] == [
        ("has", "have", 6, False),  # Peter is singular too: no attractor for the verb
        ("her", "his", 7, True)]    # ... but he is one for the possessive
    assert gen.probes(relative)[1].prefix == tuple("Jenny , who met Peter , has".split())

    place = sentence("the boys near the old mill have their kites .", (6, 1, "have"), (7, 1, "poss"))
    assert [(p.correct, p.wrong, p.attractor) for p in gen.probes(place)] == [
        ("have", "has", True),     # the mill attracts the verb
        ("their", "his", False)]   # a place has no his/her: default, the head's gender

    coordinated = sentence("Jenny and Mary have their books .", (3, 0, "have"), (4, 0, "poss"))
    assert [(p.correct, p.wrong, p.distance) for p in gen.probes(coordinated)] == [
        ("have", "has", 3), ("their", "her", 4)]

    two = sentence("Jenny , who met the boys near Peter , has her pen .",
                   (9, 0, "have"), (10, 0, "poss"))
    assert [(p.correct, p.wrong) for p in gen.probes(two)] == [
        ("has", "have"),  # Peter agrees with "has": the boys are the attractor
        ("her", "his")]   # the nearest disagreeing noun, Peter, not the boys


def test_committed_probe_file_rows_are_minimal_pairs_ending_at_a_subject():
    paradigms = [{"has", "have"}, {"is", "are"}, {"was", "were"}, {"his", "her", "their"},
                 {"himself", "herself", "themselves"}]
    rows = (COMMITTED / "jenny.probes.tsv").read_text(encoding="utf-8").splitlines()
    assert 3000 < len(rows) < 8000
    for row in rows:
        prefix, correct, wrong, distance, attractors = row.split("\t")
        words, distance = prefix.split(), int(distance)
        assert 0 <= int(attractors) < distance, row      # nouns between subject and verb
        assert correct != wrong and any({correct, wrong} <= p for p in paradigms), row
        assert 1 <= distance <= len(words), row
        assert words[-distance] in SUBJECT_WORDS, row  # the distance reaches back to a subject


def test_generator_is_deterministic_whatever_the_hash_seed(tmp_path):
    outputs = []
    for hash_seed in ["1", "2"]:
        out = tmp_path / hash_seed
        env = {**os.environ, "PYTHONHASHSEED": hash_seed}
        subprocess.run([sys.executable, str(SCRIPT), "--out", str(out), *SMALL],
                       check=True, env=env, capture_output=True)
        outputs.append([(out / name).read_bytes() for name in FILES])
    assert outputs[0] == outputs[1]
    assert all(len(data) > 0 for data in outputs[0])


def test_each_split_has_its_own_random_stream(tmp_path):
    small, large = tmp_path / "small", tmp_path / "large"
    gen.main(["--out", str(small), *SMALL])
    gen.main(["--out", str(large), *SMALL[:1], "600", *SMALL[2:]])
    # more training sentences leave valid/test/probes untouched ...
    for name in FILES[1:]:
        assert (small / name).read_bytes() == (large / name).read_bytes()
    # ... and the train stream simply continues
    assert (large / FILES[0]).read_text().startswith((small / FILES[0]).read_text())
    train = set((small / FILES[0]).read_text().splitlines())
    test = (small / FILES[2]).read_text().splitlines()
    assert sum(line in train for line in test) < len(test) // 2


def test_committed_corpus_is_what_the_default_command_writes(tmp_path):
    subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)],
                   check=True, capture_output=True, timeout=60)
    for name in FILES:
        assert (tmp_path / name).read_bytes() == (COMMITTED / name).read_bytes(), name


def test_committed_files_are_one_tokenized_sentence_per_line_and_sized_as_documented():
    sizes = {name: (COMMITTED / name).stat().st_size for name in FILES}
    assert 1_500_000 <= sizes["jenny.train.txt"] <= 2_500_000
    for name in ["jenny.valid.txt", "jenny.test.txt"]:
        assert 0.04 <= sizes[name] / sizes["jenny.train.txt"] <= 0.06
    assert sum(sizes.values()) < 4_000_000
    names = set(gen.FEMALE_NAMES) | set(gen.MALE_NAMES)
    types = set()
    for name in FILES[:3]:
        text = (COMMITTED / name).read_text(encoding="utf-8")
        assert text.endswith(" .\n")
        for line in text.splitlines():
            assert line == " ".join(line.split()) and line.endswith(" ."), line
            words = line.split()
            types.update(words)
            assert all(w.islower() or w in names or w in {",", "."} for w in words), line
    assert 400 <= len(types) <= 1200

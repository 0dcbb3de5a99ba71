"""rnnlm.data: corpora on disk -> vocabulary -> int32 ids -> TBPTT chunks."""

import hashlib
import io
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest

from rnnlm.data import (BatchStream, Vocabulary, encode_file, fit_batch_shape, load_corpus,
                        random_chunk_lengths, tokenize)
from rnnlm.errors import CheckpointError, DataError, UsageError

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
PTB = SHARED / "corpora" / "ptb"


def write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def corpus_dir(tmp_path: Path, train: str, valid: str | None = None, test: str | None = None,
               name: str = "toy") -> Path:
    d = tmp_path / name
    write(d / f"{name}.train.txt", train)
    if valid is not None:
        write(d / f"{name}.valid.txt", valid)
    if test is not None:
        write(d / f"{name}.test.txt", test)
    return d


# --- tokenization ----------------------------------------------------------------------------

def test_word_level_splits_on_whitespace_ends_lines_with_eos_and_skips_blank_lines(tmp_path):
    d = corpus_dir(tmp_path, " the cat sat \n\n  \n the\tdog \nsat", valid=" the cat \n")
    c = load_corpus(d)
    assert c.vocab.decode(c.train) == ["the", "cat", "sat", "<eos>", "the", "dog", "<eos>",
                                       "sat", "<eos>"]
    assert c.vocab.decode(c.valid) == ["the", "cat", "<eos>"]
    assert c.train.dtype == np.int32 and c.valid.dtype == np.int32
    assert c.test is None
    assert c.stats["train"]["tokens"] == 9 and c.stats["train"]["lines"] == 5
    assert c.stats["valid_source"] == "file"


def test_a_text_given_to_a_model_is_tokenized_as_its_corpus_was():
    # each line a newline ends closes with <eos>, blank lines add nothing, and a last line
    # without a newline stays open (a seed goes on from it)
    assert tokenize(" the cat sat \n\n  \n the\tdog ", "word") == [
        "the", "cat", "sat", "<eos>", "the", "dog"]
    assert tokenize("a .\r\nb .\n", "word") == ["a", ".", "<eos>", "b", ".", "<eos>"]
    assert tokenize("", "word") == [] and tokenize("\n", "word") == []
    assert tokenize("a\nb", "char") == ["a", "\n", "b"]


def test_char_level_keeps_every_character_including_newlines(tmp_path):
    text = "héllo wörld\n\nab\tc\n"
    c = load_corpus(corpus_dir(tmp_path, text, valid="hé!\n"), level="char")
    assert "".join(c.vocab.decode(c.train)) == text
    assert c.vocab.eos_id is None and "<eos>" not in c.vocab
    assert "\n" in c.vocab and "\t" in c.vocab and "é" in c.vocab
    # "!" never occurs in training: it is the only <unk>
    assert c.vocab.decode(c.valid) == ["h", "é", "<unk>", "\n"]
    assert c.stats["valid"]["oov"] == 1 and c.stats["valid"]["literal_unk"] == 0
    assert tokenize("ab c", "char") == ["a", "b", " ", "c"]
    assert tokenize(" a  b ", "word") == ["a", "b"]


def test_utf8_byte_order_mark_is_not_part_of_the_text(tmp_path):
    f = write(tmp_path / "bom.txt", b"\xef\xbb\xbfab\n")
    c = load_corpus(f, level="char", valid_fraction=0)
    assert "".join(c.vocab.decode(c.train)) == "ab\n"


def test_other_encodings_are_decoded_when_named(tmp_path):
    f = write(tmp_path / "latin.txt", "café au lait\n".encode("latin-1"))
    c = load_corpus(f, encoding="latin-1", valid_fraction=0)
    assert c.vocab.decode(c.train) == ["café", "au", "lait", "<eos>"]
    g = write(tmp_path / "wide.txt", "naïve text\n".encode("utf-16"))  # NUL bytes are text here
    assert load_corpus(g, encoding="utf-16", level="char", valid_fraction=0).train.size == 11


# --- vocabulary ------------------------------------------------------------------------------

def test_vocabulary_has_specials_first_then_descending_count_ties_by_first_appearance(tmp_path):
    c = load_corpus(corpus_dir(tmp_path, "b a c a\nd c e\n"))
    assert c.vocab.tokens == ("<unk>", "<eos>", "a", "c", "b", "d", "e")
    assert (c.vocab.unk_id, c.vocab.eos_id, len(c.vocab)) == (0, 1, 7)
    assert c.vocab.id("c") == 3 and c.vocab.id("zebra") == c.vocab.unk_id
    assert "a" in c.vocab and "zebra" not in c.vocab


def test_max_vocab_and_min_count_send_rare_words_to_unk(tmp_path):
    d = corpus_dir(tmp_path, "a a a b b c\na b d\n", valid="a c d x\n")
    c = load_corpus(d, max_vocab=4)  # <unk>, <eos> + the two most frequent words
    assert c.vocab.tokens == ("<unk>", "<eos>", "a", "b")
    assert c.vocab.decode(c.train) == ["a", "a", "a", "b", "b", "<unk>", "<eos>",
                                       "a", "b", "<unk>", "<eos>"]
    assert c.stats["train"]["oov"] == 2 and c.stats["train"]["types"] == 5
    assert c.stats["valid"] == {"file": str(d / "toy.valid.txt"), "lines": 1, "tokens": 5,
                                "types": 5, "unk": 3, "literal_unk": 0, "oov": 3,
                                "oov_rate": 0.6}
    assert any("kept 2 of 4 training types" in n for n in c.notes)
    c = load_corpus(d, min_count=2)  # c and d occur once each
    assert c.vocab.tokens == ("<unk>", "<eos>", "a", "b")
    with pytest.raises(UsageError, match="--max-vocab must be at least 3"):
        load_corpus(d, max_vocab=2)
    with pytest.raises(UsageError, match="--min-count"):
        load_corpus(d, min_count=0)


def test_literal_unk_in_the_text_is_the_unknown_token_not_a_second_entry(tmp_path):
    d = corpus_dir(tmp_path, "the <unk> sat\n<unk> <unk> the\n", valid="the <unk> zebra\n")
    c = load_corpus(d)
    assert c.vocab.tokens.count("<unk>") == 1 and c.vocab.id("<unk>") == 0
    assert c.vocab.tokens == ("<unk>", "<eos>", "the", "sat")
    assert c.stats["train"]["literal_unk"] == 3 and c.stats["train"]["oov"] == 0
    v = c.stats["valid"]
    assert (v["unk"], v["literal_unk"], v["oov"], v["tokens"]) == (2, 1, 1, 4)
    assert v["oov_rate"] == pytest.approx(0.25)


def test_encode_decode_round_trip():
    v = Vocabulary(["<unk>", "<eos>", "the", "cat"], "word")
    ids = v.encode(["the", "cat", "<eos>", "dog"])
    assert ids.dtype == np.int32 and ids.tolist() == [2, 3, 1, 0]
    assert v.decode(ids) == ["the", "cat", "<eos>", "<unk>"]
    assert v.decode(v.encode(["cat", "the"])) == ["cat", "the"]
    with pytest.raises(DataError, match="outside the vocabulary"):
        v.decode([4])
    with pytest.raises(DataError, match="must start with <unk>, <eos>"):
        Vocabulary(["the", "<unk>", "<eos>"], "word")


@pytest.mark.parametrize("level, tokens", [
    ("word", ["<unk>", "<eos>", "the", "naïve", "N", "$"]),
    ("char", ["<unk>", "a", " ", "\n", "\t", "é", "字"]),
])
def test_vocabulary_survives_an_npz_round_trip_without_pickle(tmp_path, level, tokens):
    v = Vocabulary(tokens, level)
    np.savez(tmp_path / "v.npz", vocab=v.to_array())
    with np.load(tmp_path / "v.npz", allow_pickle=False) as z:
        arr = z["vocab"]
    assert arr.dtype.kind == "U"
    w = Vocabulary.from_array(arr, level)
    assert w == v and w.tokens == tuple(tokens) and w.level == level


def test_from_array_rejects_a_foreign_array_with_a_checkpoint_error():
    with pytest.raises(CheckpointError, match="not a 1-D unicode array"):
        Vocabulary.from_array(np.arange(3), "word")
    with pytest.raises(CheckpointError, match=r"token 'a' is listed twice \(ids 2 and 3\)"):
        Vocabulary.from_array(np.array(["<unk>", "<eos>", "a", "a"]), "word")
    with pytest.raises(CheckpointError, match=r"token 'ab' \(id 1\) is not one character"):
        Vocabulary.from_array(np.array(["<unk>", "ab"]), "char")
    with pytest.raises(CheckpointError, match=r"token 'a b' \(id 2\) holds whitespace"):
        Vocabulary.from_array(np.array(["<unk>", "<eos>", "a b"]), "word")


# --- corpus layout ---------------------------------------------------------------------------

def test_single_file_holds_out_its_last_5_percent_of_lines_for_validation(tmp_path):
    f = write(tmp_path / "book.txt", "a b\n" * 95 + "c d\n" * 5)
    c = load_corpus(f)
    assert c.train.size == 95 * 3 and c.valid.size == 5 * 3 and c.test is None
    # the vocabulary never saw the held-out lines, so their words are out of vocabulary
    assert "c" not in c.vocab
    assert c.vocab.decode(c.valid) == ["<unk>", "<unk>", "<eos>"] * 5
    assert c.stats["valid"]["oov"] == 10 and c.stats["valid_source"] == "split"
    assert (c.stats["train"]["lines"], c.stats["valid"]["lines"]) == (95, 5)
    assert c.notes[0] == "validation: last 5% of lines of book.txt (5 of 100 lines)"
    assert c.name == "book.txt"
    assert c.sha256 == hashlib.sha256(f.read_bytes()).hexdigest()
    c = load_corpus(f, valid_fraction=0)
    assert c.valid is None and c.train.size == 300
    assert c.notes == ["no validation data: valid_fraction is 0"]


def test_char_level_split_keeps_the_newlines_of_both_parts(tmp_path):
    text = "".join(f"line {i}\n" for i in range(40)) + "nile"  # unterminated; all seen in training
    c = load_corpus(write(tmp_path / "t.txt", text), level="char", valid_fraction=0.05)
    assert "".join(c.vocab.decode(c.train)) + "".join(c.vocab.decode(c.valid)) == text
    assert "".join(c.vocab.decode(c.valid)) == "line 39\nnile"


def test_tiny_read_chunks_and_line_batches_give_the_same_ids(tmp_path, monkeypatch):
    import rnnlm.data
    text = "".join(f"wörd{i % 7} é{i % 3}\n" for i in range(60))  # multi-byte chars to split
    f = write(tmp_path / "t.txt", text)
    expected = [load_corpus(f, level=lv) for lv in ("word", "char")]
    monkeypatch.setattr(rnnlm.data, "_CHUNK", 3)
    monkeypatch.setattr(rnnlm.data, "_BATCH_LINES", 2)
    for want, got in zip(expected, [load_corpus(f, level=lv) for lv in ("word", "char")]):
        assert got.vocab == want.vocab and got.stats == want.stats and got.sha256 == want.sha256
        assert np.array_equal(got.train, want.train) and np.array_equal(got.valid, want.valid)


def test_directory_discovery_finds_train_valid_and_test_files(tmp_path):
    d = corpus_dir(tmp_path, "a b\n", valid="a\n", test="b\n", name="ptbish")
    write(d / "README.md", "not a split")
    c = load_corpus(d)
    assert c.name == "ptbish" and c.valid.tolist() == [2, 1] and c.test.tolist() == [3, 1]
    assert c.stats["test"]["file"] == str(d / "ptbish.test.txt")
    only_train = corpus_dir(tmp_path, "a b\n", name="lonely")
    c = load_corpus(only_train)
    assert c.valid is None and c.test is None and c.stats["valid_source"] is None
    assert c.notes == [f"no validation data: no *valid* file in '{only_train}'"]


def test_a_wikitext_directory_reads_its_tokens_files_and_nothing_else(tmp_path):
    d = tmp_path / "wikitext-2"
    write(d / "wiki.train.tokens", " = Heading = \n\n a b <unk> \n")
    write(d / "wiki.valid.tokens", " a <unk> \n")
    write(d / "wiki.test.tokens", " b \n")
    write(d / "train-notes.md", "not a split")
    c = load_corpus(d)
    assert c.stats["train"]["file"] == str(d / "wiki.train.tokens")
    assert c.stats["test"]["file"] == str(d / "wiki.test.tokens")
    # WikiText's own "<unk>" is rnnlm's: id 0, and the blank line emits nothing
    assert c.valid.tolist() == [c.vocab.id("a"), 0, 1]
    assert c.test.tolist() == [c.vocab.id("b"), 1]
    assert c.train.size == 4 + 4


def test_directory_without_one_training_file_is_a_data_error_naming_it(tmp_path):
    d = tmp_path / "nothing"
    write(d / "data.valid.txt", "a\n")
    with pytest.raises(DataError, match=r"'.*nothing' has no training file: name one \*train\*\.txt"):
        load_corpus(d)
    write(d / "a.train.txt", "a\n")
    write(d / "b.train.txt", "b\n")
    with pytest.raises(DataError, match="has 2 \\*train\\* files: a.train.txt, b.train.txt"):
        load_corpus(d)


def test_a_split_that_is_not_a_readable_file_is_a_data_error_not_skipped(tmp_path):
    d = corpus_dir(tmp_path, "a b\n", name="odd")
    (d / "odd.valid.txt").mkdir()
    with pytest.raises(DataError, match=r"odd.valid.txt' is named like a \*valid\* file"):
        load_corpus(d)
    (d / "odd.valid.txt").rmdir()
    (d / "odd.test.txt").symlink_to(tmp_path / "gone.txt")
    with pytest.raises(DataError, match="broken link"):
        load_corpus(d)


def test_encode_file_encodes_an_evaluation_file_with_a_fixed_vocabulary(tmp_path):
    c = load_corpus(corpus_dir(tmp_path, "a b a\n"))
    ids, stats = encode_file(write(tmp_path / "eval.txt", "a z\n\nb\n"), c.vocab)
    assert c.vocab.decode(ids) == ["a", "<unk>", "<eos>", "b", "<eos>"]
    assert (stats["tokens"], stats["lines"], stats["oov"]) == (5, 3, 1)
    with pytest.raises(UsageError, match="does not match"):
        encode_file(tmp_path / "eval.txt", c.vocab, level="char")


class _Stdin(io.BytesIO):
    """A stdin's bytes that remember how much each read asked for."""

    def __init__(self, data: bytes):
        super().__init__(data)
        self.asked: list[int] = []

    def read(self, n=-1):
        self.asked.append(n)
        return super().read(n)


def fake_stdin(monkeypatch, tmp_path: Path, data: bytes) -> tuple[_Stdin, Path]:
    """sys.stdin reads `data`; temporary files go to a fresh directory. -> (its bytes, that dir)."""
    raw = _Stdin(data)
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(raw, encoding="utf-8"))
    spool = tmp_path / "spool"
    spool.mkdir(exist_ok=True)
    monkeypatch.setattr(tempfile, "tempdir", str(spool))
    return raw, spool


def test_stdin_is_spooled_in_chunks_read_as_one_file_named_stdin_then_removed(tmp_path,
                                                                             monkeypatch):
    import rnnlm.data
    text = "a b\n" * 95 + "c d\n" * 5
    want = load_corpus(write(tmp_path / "book.txt", text))
    raw, spool = fake_stdin(monkeypatch, tmp_path, text.encode())
    monkeypatch.setattr(rnnlm.data, "_CHUNK", 64)
    c = load_corpus(Path("-"))
    assert len(raw.asked) > 5 and set(raw.asked) == {64}      # never all of stdin at once
    assert c.name == "stdin" and c.sha256 == want.sha256 and c.vocab == want.vocab
    assert np.array_equal(c.train, want.train) and np.array_equal(c.valid, want.valid)
    assert c.stats["train"]["file"] == c.stats["valid"]["file"] == "-"
    assert c.notes[0] == "validation: last 5% of lines of stdin (5 of 100 lines)"
    assert list(spool.iterdir()) == []


def test_encode_file_reads_stdin_as_it_reads_the_same_file(tmp_path, monkeypatch):
    c = load_corpus(corpus_dir(tmp_path, "a b a\n"))
    want, _ = encode_file(write(tmp_path / "eval.txt", "a z\n\nb\n"), c.vocab)
    _, spool = fake_stdin(monkeypatch, tmp_path, b"a z\n\nb\n")
    ids, stats = encode_file("-", c.vocab)
    assert ids.tolist() == want.tolist() and stats["file"] == "-"
    assert list(spool.iterdir()) == []


def test_an_empty_stdin_gets_the_empty_file_error_and_leaves_no_spool(tmp_path, monkeypatch):
    _, spool = fake_stdin(monkeypatch, tmp_path, b"")
    with pytest.raises(DataError, match=r"^file '-' is empty: give a file with some text$"):
        load_corpus("-")
    fake_stdin(monkeypatch, tmp_path, "caf\u00e9\n".encode("latin-1"))
    with pytest.raises(DataError, match=r"^file '-' is not valid utf-8: bad byte at offset 3"):
        encode_file("-", Vocabulary(("<unk>", "<eos>"), "word"))
    assert list(spool.iterdir()) == []


# --- bad input -------------------------------------------------------------------------------

@pytest.mark.parametrize("name, data, message", [
    ("empty.txt", b"", "is empty"),
    ("blank.txt", b" \n\t\n  \n", "contains only whitespace"),
    ("image.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r"looks binary \(NUL byte at offset 8\)"),
])
def test_unusable_file_is_a_one_line_data_error_naming_it(tmp_path, name, data, message):
    f = write(tmp_path / name, data)
    for level in ("word", "char"):
        with pytest.raises(DataError, match=f"^file '{f}' {message}") as e:
            load_corpus(f, level=level)
        assert "\n" not in str(e.value)
    # the same check guards the validation file of a corpus directory
    d = corpus_dir(tmp_path, "fine text\n", name="dirty")
    v = write(d / "dirty.valid.txt", data)
    with pytest.raises(DataError, match=f"^file '{v}' {message}"):
        load_corpus(d)


def test_missing_corpus_and_missing_eval_file_are_data_errors(tmp_path):
    with pytest.raises(DataError, match=f"corpus '{tmp_path / 'nope.txt'}' does not exist"):
        load_corpus(tmp_path / "nope.txt")
    v = Vocabulary(["<unk>", "<eos>"], "word")
    with pytest.raises(DataError, match=f"file '{tmp_path / 'gone.txt'}' does not exist"):
        encode_file(tmp_path / "gone.txt", v)


def test_non_utf8_file_names_the_offset_of_the_first_bad_byte_and_suggests_encoding(tmp_path):
    f = write(tmp_path / "latin.txt", "good line\nbad ".encode() + b"\xe9 here\n")
    with pytest.raises(DataError) as e:
        load_corpus(f)
    assert str(e.value) == (f"file '{f}' is not valid utf-8: bad byte at offset 14; "
                            "pass --encoding (e.g. latin-1)")


def test_bad_byte_offset_is_exact_across_read_chunks(tmp_path, monkeypatch):
    import rnnlm.data
    monkeypatch.setattr(rnnlm.data, "_CHUNK", 8)  # the 2-byte "é" straddles a chunk boundary
    f = write(tmp_path / "t.txt", "abcdefgé".encode() + b" ok \xff\n")
    with pytest.raises(DataError, match="bad byte at offset 13;"):
        load_corpus(f, valid_fraction=0)
    g = write(tmp_path / "cut.txt", "abcdefgé".encode()[:-1])  # file ends inside a character
    with pytest.raises(DataError, match="bad byte at offset 7;"):
        load_corpus(g, valid_fraction=0)


def test_bad_options_are_usage_errors(tmp_path):
    f = write(tmp_path / "ok.txt", "a b\n")
    with pytest.raises(UsageError, match="unknown encoding 'klingon-8'"):
        load_corpus(f, encoding="klingon-8")
    with pytest.raises(UsageError, match="not a text encoding"):
        load_corpus(f, encoding="hex")
    with pytest.raises(UsageError, match="--level must be 'word' or 'char', got 'byte'"):
        load_corpus(f, level="byte")
    with pytest.raises(UsageError, match="--valid-fraction"):
        load_corpus(f, valid_fraction=1.0)


# --- batch streams ---------------------------------------------------------------------------

def test_batch_stream_lays_out_contiguous_streams_with_targets_shifted_by_one():
    ids = np.arange(103, dtype=np.int32)  # id == position, so the layout can be read off
    s = BatchStream(ids, batch_size=4, bptt=7)
    assert (s.batch_size, s.bptt, s.length, len(s), s.warning) == (4, 7, 25, 4, None)
    chunks = list(s)
    assert [x.shape for x, _ in chunks] == [(4, 7), (4, 7), (4, 7), (4, 4)]
    assert all(x.dtype == np.int32 and t.dtype == np.int32 for x, t in chunks)
    x = np.concatenate([x for x, _ in chunks], axis=1)
    t = np.concatenate([t for _, t in chunks], axis=1)
    for b in range(4):  # stream b is ids[25b : 25b + 26]
        assert x[b].tolist() == list(range(25 * b, 25 * b + 25))
    assert np.array_equal(t, x + 1)  # targets = inputs shifted by one, across chunk boundaries too
    assert s.n_targets == 100


def test_random_chunk_lengths_cover_the_stream_around_bptt_and_repeat_with_the_rng():
    lengths = random_chunk_lengths(100_000, 35, np.random.default_rng(7))
    assert lengths.sum() == 100_000
    assert lengths[:-1].min() >= 5 and lengths.max() <= 70 and lengths[-1] >= 1
    # N(35, 5) truncated, or N(17.5, 5) one time in twenty: a mean near 0.975 * 35 - 0.5
    assert 33.0 < lengths.mean() < 34.5
    short = np.mean(lengths[:-1] < 25)                # the N(17.5, 5) draws, mostly
    assert 0.03 < short < 0.09
    assert len(set(lengths.tolist())) > 20
    again = random_chunk_lengths(100_000, 35, np.random.default_rng(7))
    assert np.array_equal(lengths, again)
    assert not np.array_equal(lengths[:50], random_chunk_lengths(100_000, 35,
                                                                 np.random.default_rng(8))[:50])
    assert random_chunk_lengths(3, 35, np.random.default_rng(0)).tolist() == [3]


def test_batch_stream_with_random_lengths_hands_out_the_same_streams_cut_elsewhere():
    ids = np.arange(2001, dtype=np.int32)     # id == position
    s = BatchStream(ids, batch_size=4, bptt=20)
    fixed = list(s)
    s.draw_lengths(np.random.default_rng(1))
    drawn = list(s)
    widths = [x.shape[1] for x, _ in drawn]
    assert sum(widths) == s.length == 500 and len(s) == len(drawn)
    assert widths != [x.shape[1] for x, _ in fixed] and len(set(widths)) > 3
    for chunks in (fixed, drawn):
        x = np.concatenate([x for x, _ in chunks], axis=1)
        t = np.concatenate([t for _, t in chunks], axis=1)
        assert np.array_equal(x, np.arange(2000).reshape(4, 500)) and np.array_equal(t, x + 1)
    s.draw_lengths(np.random.default_rng(1))          # the same rng state: the same cuts
    assert [x.shape[1] for x, _ in s.chunks(start=3)] == widths[3:]


def test_batch_stream_resumes_from_a_given_chunk_and_hands_out_copies():
    ids = np.random.default_rng(0).integers(0, 50, size=500).astype(np.int32)
    s = BatchStream(ids, batch_size=3, bptt=10)
    everything = list(s)
    resumed = list(s.chunks(start=5))
    assert len(resumed) == len(s) - 5
    assert all(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
               for a, b in zip(everything[5:], resumed))
    assert list(s.chunks(start=len(s))) == []
    with pytest.raises(DataError, match=f"cannot start at chunk {len(s) + 1}"):
        s.chunks(start=len(s) + 1)
    x, _ = s.chunk(0)
    x[:] = -1
    assert ids.min() >= 0 and s.chunk(0)[0].min() >= 0


def test_short_corpus_shrinks_the_batch_shape_with_one_warning():
    assert fit_batch_shape(1000, 20, 35) == (20, 35, None)
    b, t, msg = fit_batch_shape(30, 10, 5, name="valid split")
    assert (b, t) == (5, 5) and msg == "valid split has only 30 tokens: batch size 10 -> 5"
    s = BatchStream(np.arange(4), batch_size=2, bptt=10)
    assert (s.batch_size, s.bptt, len(s)) == (1, 3, 1)
    assert s.warning == "corpus has only 4 tokens: batch size 2 -> 1, bptt 10 -> 3"
    x, t = s.chunk(0)
    assert x.tolist() == [[0, 1, 2]] and t.tolist() == [[1, 2, 3]]
    assert BatchStream(np.array([7, 8]), 10, 35).chunk(0)[1].tolist() == [[8]]  # 2 tokens suffice


def test_corpus_shorter_than_two_tokens_is_a_data_error_saying_the_minimum():
    with pytest.raises(DataError, match=r"test split has 1 token\(s\); at least 2 are needed"):
        BatchStream(np.array([3]), batch_size=10, bptt=35, name="test split")


# --- the real thing --------------------------------------------------------------------------

@pytest.mark.skipif(not PTB.is_dir(), reason=f"shared PTB corpus not found at {PTB}")
def test_ptb_loads_with_10000_types_and_929589_training_tokens():
    c = load_corpus(PTB)
    assert len(c.vocab) == 10_000 and c.vocab.tokens[:3] == ("<unk>", "<eos>", "the")
    assert c.train.size == 929_589 and c.valid.size == 73_760 and c.test.size == 82_430
    assert c.stats["valid"]["oov"] == 0 and c.stats["valid"]["literal_unk"] == 3_485
    assert c.vocab.decode(c.train[:4]) == ["aer", "banknote", "berlitz", "calloway"]

"""The recipes in benchmarks/: their settings load, and the Shakespeare split is nanoGPT's."""

import pytest

from conftest import REPO, SHARED
from rnnlm import load_corpus
from rnnlm.config import ModelConfig, TrainConfig, read_config_file, split_settings

RECIPES = sorted((REPO / "benchmarks").glob("*/*.toml"))
SHAKESPEARE = SHARED / "corpora" / "tinyshakespeare" / "input.txt"


@pytest.mark.parametrize("recipe", RECIPES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_recipe_is_a_valid_set_of_settings(recipe):
    model, train = split_settings(read_config_file(recipe))
    ModelConfig(vocab_size=2, **model)
    TrainConfig(**train)


@pytest.mark.skipif(not SHAKESPEARE.is_file(),
                    reason=f"{SHAKESPEARE} is absent: no tiny Shakespeare to split")
def test_the_shakespeare_split_is_the_first_90_percent_of_the_characters(tmp_path):
    from benchmarks.shakespeare.prepare import prepare
    text = SHAKESPEARE.read_text(encoding="utf-8")
    prepare(tmp_path)
    train, valid = ((tmp_path / f"shakespeare.{part}.txt").read_bytes().decode("utf-8")
                    for part in ("train", "valid"))
    assert train + valid == text
    assert len(train) == int(len(text) * 0.9) == 1_003_854      # nanoGPT's train.bin tokens
    assert len(valid) == 111_540
    corpus = load_corpus(tmp_path, level="char")
    assert len(corpus.train) == len(train) and len(corpus.valid) == len(valid)

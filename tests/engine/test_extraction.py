"""Preference extraction as the worker sees it: choosing a backend, its interface, and what the
default path imports. Each backend's reading is tested in its own file: test_lexicon.py and
test_lexicon_rules.py (rules), test_lexicon_model.py (the learned judge), test_vpe.py,
test_extraction_openai.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from engine import extraction
from engine.extraction import make_extractor
from viper.contracts.errors import InvalidArgument

ROOT = Path(__file__).resolve().parents[2]


def test_lexicon_path_does_not_import_torch_or_httpx():
    code = (
        "import sys; from engine.extraction import make_extractor; from viper.contracts.jobs import Comment;"
        "r = make_extractor('lexicon').extract([Comment('love the teal')]);"
        "assert r.liked == ['teal'], r; assert 'torch' not in sys.modules, 'torch imported';"
        "make_extractor('openai', model='m'); assert 'httpx' not in sys.modules, 'httpx imported'"
    )
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


# --- backend selection ----------------------------------------------------------------------------


def test_unknown_backend_names_the_argument_and_the_choices():
    with pytest.raises(InvalidArgument) as info:
        make_extractor("gpt")
    assert info.value.argument == "backend"
    assert all(name in info.value.message for name in ("lexicon", "vpe", "openai"))


def test_unknown_option_is_an_error_not_ignored():
    with pytest.raises(InvalidArgument):
        make_extractor("lexicon", colour="teal")
    with pytest.raises(InvalidArgument) as info:
        make_extractor("vpe", quantize="8bit")
    assert info.value.argument == "quantize"


def test_every_backend_satisfies_the_interface():
    assert extraction.BACKENDS == ("lexicon", "vpe", "openai")
    for backend in extraction.BACKENDS:
        extractor = make_extractor(backend)
        assert isinstance(extractor, extraction.Extractor)
        assert extractor.name == backend and extractor.version

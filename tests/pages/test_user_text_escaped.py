"""User text is drawn escaped (issue 14, finding 10): no link, image or HTML from a name.

Streamlit renders alerts, captions, titles and Markdown as Markdown; a
pseudonym or a file name such as ``[Open](https://evil.example)`` became a
phishing link, ``![](https://track.example/p.png)`` a tracking image.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from pages._shared import plain
from rehab_core.io import PAPER_CHANNELS, write_signals_text
from rehab_core.storage import open_store

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "app.py")
LINK = "[Open the report](https://evil.example/login)"
IMAGE = "![](https://track.example/pixel.png)"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (LINK, r"\[Open the report\](https\://evil.example/login)"),
        (IMAGE, r"!\[\](https\://track.example/pixel.png)"),
        ("<img src=x onerror=alert(1)>", r"\<img src=x onerror=alert(1)\>"),
        ("see www.evil.example", r"see www\.evil.example"),
        ("# Heading\n- item", r"\# Heading - item"),
        ("`code` and $x^2$", r"\`code\` and \$x^2\$"),
        ("rec_01.txt", "rec_01.txt"),  # ordinary names are left alone
    ],
)
def test_plain_escapes_what_markdown_would_turn_into_links_images_or_html(text, shown):
    assert plain(text) == shown


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("REHAB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("REHAB_DATABASE_URL", raising=False)
    st.cache_resource.clear()
    s = open_store(data_dir=tmp_path / "data")
    yield s
    s.close()
    st.cache_resource.clear()


def test_a_pseudonym_shaped_like_a_link_is_shown_as_text(signed_in, store):
    at = signed_in(AppTest.from_file(APP, default_timeout=120)).run()
    at.switch_page("pages/patients.py").run()
    (pseudonym,) = [t for t in at.text_input if t.label == "Pseudonym"]
    pseudonym.input(LINK)
    (create,) = [b for b in at.button if b.label == "Create patient"]
    create.click().run()
    assert not at.exception
    shown = [s.value for s in at.success]
    assert shown == [
        r"Created patient \[Open the report\](https\://evil.example/login); "
        "upload their recordings below."
    ]


def test_a_file_name_shaped_like_a_link_is_shown_as_text(signed_in, store, tmp_path):
    patient = store.create_patient("P-1")
    at = signed_in(AppTest.from_file(APP, default_timeout=120)).run()
    at.session_state["patient_id"] = patient.id
    at.switch_page("pages/patients.py").run()
    data = np.random.default_rng(0).normal(0.0, 20.0, size=(len(PAPER_CHANNELS), 1100))
    content = write_signals_text(tmp_path / "s.txt", data, PAPER_CHANNELS, 100.0).read_bytes()
    at.file_uploader[0].upload("[Open](www.evil.example).txt", content).run()
    (success,) = [s.value for s in at.success]
    assert success.startswith(r"Stored \[Open\](www\.evil.example).txt: 22 channels")

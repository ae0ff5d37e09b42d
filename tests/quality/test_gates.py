"""Caption quality gates (codecvdc_assets/quality): at least 20 positive and 20 negative cases per flag, on
real captions (YouCook2 validation sentences in ../shared/dense, the embedded model's captions of the
real clips) and generated text, with the hard negatives of issue #22."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from support.paths import SHARED, SHARED_VIDEOS

from codecvdc_assets.quality import gates
from codecvdc_assets.quality.duplicates import Caption, collapse_flags, duplicate_flags
from codecvdc_assets.quality.rows import CaptionRow, flag_rows
from codecvdc_assets.quality.settings import FLAGS, QualitySettings

S = QualitySettings()
YC2 = SHARED / "dense" / "yc2_val.json"


def _yc2() -> dict[str, list[str]]:
    return {video: row["sentences"] for video, row in json.loads(YC2.read_text()).items()}


YC2_VIDEOS = _yc2()
YC2_SENTENCES = [s for sentences in YC2_VIDEOS.values() for s in sentences]
# 20 real sentences and 20 real paragraphs (one per video), picked with a fixed seed.
_rng = random.Random(22)
REAL_SENTENCES = _rng.sample(YC2_SENTENCES, 20)
REAL_PARAGRAPHS = [". ".join(s).capitalize() + "." for s in _rng.sample(list(YC2_VIDEOS.values()), 20)]


def _ids(cases: list[str]) -> list[str]:
    return [c[:40] for c in cases]


# ---------------------------------------------------------------------------------------------- empty
EMPTY_POS = [
    "",
    " ",
    "\n",
    "\t\t",
    "   \n  ",
    '""',
    "''",
    "``",
    "“”",
    "\u200b",
    "\ufeff",
    " \u200b ",
    '" "',
    "«»",
    "\r\n",
    "  ''  ",
    '""""',
    "\u2060",
    "‘’",
    "\n\n\n",
]
EMPTY_NEG = ["A", "ok", "0", "A man walks.", "...", "N/A", "—", "?", "Night.", "一", "Кот", "x"] + REAL_SENTENCES[:8]


@pytest.mark.parametrize("text", EMPTY_POS, ids=_ids(EMPTY_POS))
def test_empty_flags(text: str) -> None:
    assert gates.empty(text, S) is not None
    assert [f.flag for f in gates.caption_flags(text, S)] == ["empty"]


@pytest.mark.parametrize("text", EMPTY_NEG, ids=_ids(EMPTY_NEG))
def test_empty_passes(text: str) -> None:
    assert gates.empty(text, S) is None


def test_empty_none_and_counts() -> None:
    assert len(EMPTY_POS) >= 20 and len(EMPTY_NEG) >= 20
    assert gates.empty(None, S) is not None


# ---------------------------------------------------------------------------------------------- placeholder
PLACEHOLDER_POS = [
    "N/A",
    "n/a",
    "NA",
    "None",
    "null",
    "TBD",
    "TODO",
    "[caption]",
    "[Caption]",
    "<caption>",
    "{caption}",
    "{{ caption }}",
    "...",
    "…",
    ". . .",
    "Lorem ipsum dolor sit amet, consectetur adipiscing elit.",
    "Placeholder",
    "Caption here",
    "[insert caption here]",
    "A video. [describe the scene]",
    "xxx",
    "---",
    "???",
    "Description",
    '"N/A"',
    "[your caption here]",
    "undefined",
]
PLACEHOLDER_NEG = [
    "A screen displays N/A next to the price of the item.",
    "The sign reads 'None shall pass' above the gate.",
    "A man types TODO on a whiteboard and underlines it.",
    "The description on the box lists the ingredients.",
    "A keyboard with the [Enter] key highlighted in red.",
    "Three dots appear on the screen... then a logo fades in.",
    "A woman holds a caption card that says hello.",
    "A placeholder cone marks the wet floor in the hallway.",
    "A text field shows {name} in a code editor.",
    "Latin words appear on a stone arch.",
    "The man says nothing and walks away.",
] + REAL_SENTENCES[:10]


@pytest.mark.parametrize("text", PLACEHOLDER_POS, ids=_ids(PLACEHOLDER_POS))
def test_placeholder_flags(text: str) -> None:
    assert gates.placeholder(text, S) is not None
    assert "placeholder" in [f.flag for f in gates.caption_flags(text, S)]


@pytest.mark.parametrize("text", PLACEHOLDER_NEG, ids=_ids(PLACEHOLDER_NEG))
def test_placeholder_passes(text: str) -> None:
    assert gates.placeholder(text, S) is None


# ---------------------------------------------------------------------------------------------- repetition
def _loop(sentence: str, copies: int) -> str:
    return " ".join([sentence] * copies)


REPETITION_POS = [
    "a butterfly, a butterfly, a butterfly, a butterfly, a butterfly, a butterfly",
    "A butterfly lands on a flower, a butterfly, a butterfly, a butterfly, a butterfly.",
    "The man walks to the left. " * 3,
    "The dog barks at the mailman. " * 5,
    "left left left left left left left left left",
    "A woman in a red coat crosses the street while the traffic lights change. " * 4,
    "The video shows a kitchen. The chef chops onions and the chef chops onions and the chef chops onions "
    "and the chef chops onions and the chef chops onions.",
    "好的" * 80,
    "然后他走了。" * 30,
    "Он идёт. " * 20,
    "The camera pans. The camera pans. The camera pans. The camera pans.",
    "A cat sits on the mat. " + "It is a cat, it is a cat, it is a cat, it is a cat.",
    "In the scene, " + "the the the the the the the the the the",
    "Frames 1 to 8 show the same room; " + "the room is empty and quiet, " * 6,
    "yes yes yes yes yes yes yes yes yes yes",
] + [_loop(s.capitalize() + ".", 4) for s in REAL_SENTENCES[:8]]
REPETITION_NEG = (
    [
        "The car moves left, then left again, then right.",  # hard negative: a word that truly repeats
        "He knocks, knocks, knocks on the door and waits.",
        "The man moves left, then left again, then right, then right again.",
        "Step by step, the chef folds the dough, turns it, and folds it again.",
        "A ball bounces: up, down, up, down, and rolls away.",
        "The drummer plays a slow beat while the crowd claps along.",
    ]
    + REAL_SENTENCES[:7]
    + REAL_PARAGRAPHS[:10]
)


@pytest.mark.parametrize("text", REPETITION_POS, ids=_ids(REPETITION_POS))
def test_repetition_flags(text: str) -> None:
    flag = gates.repetition(text, S)
    assert flag is not None and flag.value > 0


@pytest.mark.parametrize("text", REPETITION_NEG, ids=_ids(REPETITION_NEG))
def test_repetition_passes(text: str) -> None:
    assert gates.repetition(text, S) is None


def test_longest_loop_measures_copies_and_period() -> None:
    from codecvdc_assets.quality.text import words

    assert gates.longest_loop(words("a butterfly, a butterfly, a butterfly"), 40) == (3, 2)
    assert gates.longest_loop(words("moves left, then left again"), 40) == (1, 0)
    assert gates.longest_loop(words("The man walks. " * 3), 40) == (3, 3)


def test_compression_catches_a_loop_at_the_end_of_a_long_caption() -> None:
    text = " ".join(REAL_PARAGRAPHS[:3]) + " " + "and then, " * 60
    assert gates.max_window_compression(text, 600, 120) > S.compression_max_ratio
    assert gates.compression_ratio(" ".join(REAL_PARAGRAPHS[:3])) < S.compression_max_ratio


# ---------------------------------------------------------------------------------------------- truncated
TRUNCATED_POS = [
    "A man walks into the kitchen and picks up the",
    "The woman opens the fridge and takes out a",
    "Two children play in the garden while their",
    "The chef adds salt, pepper,",
    "A cyclist rides down the hill towards the",
    "The camera pans across the room to show a table with",
    "The video shows a busy street. Cars pass by and a bus stops at the corner next",
    "A dog runs across the field. It jumps over a log and then chases",
    'The man holds a sign that reads "Open',
    "A woman (in a blue dress",
    "He pours the sauce over the noodles and",
    "The scene cuts to a close-up of the",
    "Rain falls on the roof; water drips from the gutter -",
    "The players line up on the pitch. The referee blows the whistle and the ball is",
    "She looks at the camera, smiles, and says:",
    "A red car is parked on the left. A blue truck slowly drives past it toward the bridge",
] + [" ".join(s.split()[: max(2, len(s.split()) // 2)]) + " and the" for s in REAL_SENTENCES[:6]]
TRUNCATED_NEG = (
    [
        "A man walks into the kitchen and picks up the kettle.",
        "Close-up of a red apple",  # a caption-style fragment: no end mark, nothing cut
        "The chef adds salt, pepper, etc.",
        "The camera pans left.",
        'A sign reads "Open".',
        "A woman in a blue dress (smiling) waves.",
        "He picks it up",
        "The light turns on",
        "The game is over",
        "Steam rises from the pot!",
        "What is in the box?",
        "The video ends with a logo…",
        "A man stands in the rain. Close-up",  # a short trailing fragment
        "add some water and cook for a while",  # real: "while" as a noun
        "put the cooked beef in between",  # real: "between" as an adverb
    ]
    + REAL_SENTENCES[:8]
)


@pytest.mark.parametrize("text", TRUNCATED_POS, ids=_ids(TRUNCATED_POS))
def test_truncated_flags(text: str) -> None:
    assert gates.truncated(text, S) is not None


@pytest.mark.parametrize("text", TRUNCATED_NEG, ids=_ids(TRUNCATED_NEG))
def test_truncated_passes(text: str) -> None:
    assert gates.truncated(text, S) is None


@pytest.mark.parametrize("text", TRUNCATED_NEG[:5], ids=_ids(TRUNCATED_NEG[:5]))
def test_truncated_by_finish_reason(text: str) -> None:
    """An answer cut at max_tokens is truncated whatever its last word."""
    flag = gates.truncated(text, S, finish_reason="length")
    assert flag is not None and "length" in flag.detail
    assert gates.truncated(text, S, finish_reason="stop") is None


# ---------------------------------------------------------------------------------------------- refusal
REFUSAL_POS = [
    "I'm sorry, but I can't help with that.",
    "I am sorry, I cannot describe this video.",
    "As an AI language model, I cannot watch videos.",
    "As an AI, I don't have the ability to see images.",
    "I'm unable to view the image you provided.",
    "I cannot provide a description of this content.",
    "Sorry, I can't assist with that request.",
    "I apologize, but I am not able to process videos.",
    "I'm afraid I can't do that.",
    "Unfortunately, I am unable to analyze the frames.",
    "I can’t identify the people in this image.",
    "My apologies, but this request violates my content policy.",
    "I must decline to describe this video.",
    "I don't have access to the video file.",
    "I'm not able to open attachments.",
    "The image shows a street. However, I cannot identify the person in it.",
    "I cannot see the video, but it likely shows a kitchen.",
    "Sorry, but I couldn't process the clip.",
    "This content is against my guidelines.",
    "I can not generate a caption for this frame.",
    "AS AN AI ASSISTANT I CANNOT VIEW VIDEOS.",
]
REFUSAL_NEG = (
    [
        "A man says 'I'm sorry' to the woman and hugs her.",  # hard negative: quoted speech
        'The sign reads "Sorry, we are closed".',
        "A boy apologizes to his mother in the kitchen.",
        "The woman is unable to open the jar and hands it to her son.",
        "He cannot reach the top shelf, so he climbs a stool.",
        "A robot labelled AI walks across the stage.",
        "The chef can't find the salt and looks around.",
        "A sorry-looking dog sits in the rain.",
        "A customer service agent apologizes on the phone.",
        "The text on the screen says “I cannot go on”.",
        "She tells him she is sorry and leaves the room.",
    ]
    + REAL_SENTENCES[:9]
)


@pytest.mark.parametrize("text", REFUSAL_POS, ids=_ids(REFUSAL_POS))
def test_refusal_flags(text: str) -> None:
    assert gates.refusal(text, S) is not None


@pytest.mark.parametrize("text", REFUSAL_NEG, ids=_ids(REFUSAL_NEG))
def test_refusal_passes(text: str) -> None:
    assert gates.refusal(text, S) is None


# ---------------------------------------------------------------------------------------------- prompt_echo
PROMPT = (
    "Describe this frame in detail for a dense video caption: the people, objects, their positions, "
    "colours and actions. Answer with a JSON object whose caption field holds the description."
)
ECHO_POS = [
    PROMPT,
    "Describe this frame in detail for a dense video caption: the people, objects, their positions.",
    "the people, objects, their positions, colours and actions",
    "Answer with a JSON object whose caption field holds the description.",
    "Describe this frame in detail for a dense video caption.",
    "Caption: describe this frame in detail for a dense video caption: the people, objects, their positions, "
    "colours and actions.",
    PROMPT.upper(),
    PROMPT.replace(",", ""),
    "Sure! Describe this frame in detail for a dense video caption: the people, objects, their positions, colours",
    "this frame in detail for a dense video caption the people objects their positions colours and actions",
]
ECHO_PROMPTS = [
    "Summarize the events of the scene in chronological order, naming who does what and where.",
    "List every change between the two frames: objects that appear, disappear or move, and camera motion.",
    "Write one paragraph that narrates the whole video from the first scene to the last one.",
    "Describe what happens in this one-second clip in a single sentence.",
    "You are a careful annotator. Watch the clip and write a faithful, detailed caption.",
]
ECHO_POS_PAIRS = [(p, p) for p in ECHO_PROMPTS] + [(p, "Okay. " + " ".join(p.split()[:12])) for p in ECHO_PROMPTS]
ECHO_NEG = [
    "A man in a red shirt describes the objects on the table to a child.",
    "The frame shows two people at a table; a red mug sits on the left.",
    "A dense crowd gathers in the square as the sun sets.",
    "The video shows a chef chopping onions, then frying them in a pan.",
    "People walk past a shop window full of colourful objects.",
    "A woman positions a camera on a tripod and starts recording.",
    "Close-up of a JSON file open in a text editor.",
    "Two dogs play with a ball in the park.",
    "In this frame, a cyclist waits at a red light.",
    "A man holds a caption card in front of the camera.",
] + REAL_SENTENCES[:10]


@pytest.mark.parametrize("text", ECHO_POS, ids=_ids(ECHO_POS))
def test_prompt_echo_flags(text: str) -> None:
    flag = gates.prompt_echo(text, PROMPT, S)
    assert flag is not None and flag.value > S.echo_max_share


@pytest.mark.parametrize(("prompt", "text"), ECHO_POS_PAIRS, ids=_ids([t for _, t in ECHO_POS_PAIRS]))
def test_prompt_echo_flags_other_prompts(prompt: str, text: str) -> None:
    assert gates.prompt_echo(text, prompt, S) is not None


@pytest.mark.parametrize("text", ECHO_NEG, ids=_ids(ECHO_NEG))
def test_prompt_echo_passes(text: str) -> None:
    assert gates.prompt_echo(text, PROMPT, S) is None
    assert gates.prompt_echo(text, None, S) is None


# ---------------------------------------------------------------------------------------------- language
LANGUAGE_POS = [
    "一个男人在厨房里切洋葱，然后把它们放进锅里。",
    "视频中，一位女士正在公园里遛狗。",
    "A man walks into the kitchen. 然后他打开冰箱，拿出一瓶牛奶，倒进杯子里。",  # drifts into Chinese
    "Мужчина идёт по улице и разговаривает по телефону.",
    "На кухне женщина режет овощи и ставит кастрюлю на плиту.",
    "男性が台所で野菜を切っています。",
    "한 남자가 부엌에서 양파를 썰고 있다.",
    "رجل يمشي في الشارع ويتحدث على الهاتف.",
    "Ένας άνδρας περπατά στον δρόμο.",
    "Un hombre camina por la calle y habla por teléfono con su madre.",
    "La mujer corta las verduras y las pone en una olla con agua.",
    "Un homme marche dans la rue et parle au téléphone avec sa mère.",
    "La femme coupe les légumes et les met dans une casserole.",
    "Ein Mann geht auf der Straße und spricht mit seiner Mutter am Telefon.",
    "Die Frau schneidet das Gemüse und legt es in einen Topf mit Wasser.",
    "Un uomo cammina per la strada e parla al telefono con sua madre.",
    "Um homem caminha pela rua e fala ao telefone com sua mãe.",
    "Een man loopt op straat en praat aan de telefoon met zijn moeder.",
    "The man walks. Потом он садится в машину и уезжает из города домой.",
    "厨师把面条放进沸水中，煮三分钟后捞出来，再加入酱油和葱花。",
    "Женщина наливает чай в чашку, добавляет сахар и размешивает ложкой.",
]
LANGUAGE_NEG = (
    [
        'A shop sign reads "欢迎光临" above the door as customers walk in.',  # hard negative: quoted foreign sign
        "A banner with the words «Добро пожаловать» hangs over the entrance of the hall.",
        "The menu board says 'Plato del día' in chalk next to the counter.",
        "A man wearing a T-shirt printed with 「東京」 walks past a café.",
        "The chef makes a crème brûlée and serves it in a café.",  # accents inside English
        "A tourist photographs the façade of the old cathedral in Zürich.",
        "Close-up of a red apple",
        "Red car, blue sky, green tree, white clouds.",  # a noun list: no stop words, not another language
        'The man says "Hola, ¿cómo estás?" and shakes her hand.',
        "A title card reads 'Le Petit Prince' before the scene opens.",
        "A Spanish teacher writes on the board while students take notes.",
    ]
    + REAL_SENTENCES[:10]
)


@pytest.mark.parametrize("text", LANGUAGE_POS, ids=_ids(LANGUAGE_POS))
def test_language_flags(text: str) -> None:
    assert gates.language(text, S) is not None


@pytest.mark.parametrize("text", LANGUAGE_NEG, ids=_ids(LANGUAGE_NEG))
def test_language_passes(text: str) -> None:
    assert gates.language(text, S) is None


def test_language_of_the_profile() -> None:
    german = QualitySettings(language="de")
    assert gates.language("Die Frau schneidet das Gemüse und legt es in einen Topf mit Wasser.", german) is None
    assert gates.language("The woman cuts the vegetables and puts them into a pot of water.", german) is not None


# ---------------------------------------------------------------------------------------------- duplicate
LONG = [
    "A man in a dark suit walks slowly along a crowded city street at night while neon signs glow above him.",
    "A young woman sits at a wooden kitchen table, pours coffee into a white mug and reads a folded newspaper.",
    "Two children in yellow raincoats jump into puddles on a quiet suburban street as their dog runs around them.",
    "The camera follows a red sports car along a winding coastal road with cliffs on one side and the sea below.",
    "A chef in a white apron slices onions on a cutting board, then tips them into a hot pan with melted butter.",
]


def _variant(text: str, k: int) -> str:
    """A near copy: one word changed, or punctuation and case changed."""
    words = text.split()
    if k % 2:
        words[len(words) // 2] = "quickly"
        return " ".join(words)
    return text.upper().replace(",", "")


def test_duplicate_flags_copies_across_videos() -> None:
    captions = [Caption(("real", i), f"yc2-{i}", p) for i, p in enumerate(REAL_PARAGRAPHS)]
    planted = []
    for i in range(20):  # 20 positives: copies and near copies of five long captions in other videos
        planted.append(Caption(("dup", i), f"dup-{i}", LONG[i % 5] if i < 5 else _variant(LONG[i % 5], i)))
    flags = duplicate_flags(captions + planted, S)
    assert all(("dup", i) in flags for i in range(20)), sorted(k for k in flags if k[0] == "dup")
    assert flags[("dup", 0)].value >= 4  # the cluster spans the copies' videos
    assert not [k for k in flags if k[0] == "real"]  # 20 negatives: real paragraphs of different videos


SIMILAR_SHORT = [  # hard negatives: different videos with truly similar short captions
    ("A dog runs on the beach.", "A dog runs on the grass."),
    ("A man walks.", "A man walks."),
    ("A black screen.", "A black screen."),
    ("add salt and pepper", "add salt and pepper to the bowl"),
    ("The camera pans left.", "The camera pans right."),
]
SIMILAR_LONG = [  # and long captions that share a frame but not the content
    (
        "A man in a red shirt walks across the busy street while holding a large black umbrella.",
        "A man in a blue shirt walks across the quiet street while holding a small paper bag.",
    ),
    (
        "A woman cuts tomatoes on a wooden board in a bright kitchen and puts them in a bowl.",
        "A woman cuts onions on a marble board in a dark kitchen and puts them in a pan.",
    ),
]


def test_duplicate_passes_similar_captions_of_different_videos() -> None:
    captions = []
    for i, (a, b) in enumerate(SIMILAR_SHORT + SIMILAR_LONG):
        captions += [Caption(("a", i), f"va-{i}", a), Caption(("b", i), f"vb-{i}", b)]
    assert duplicate_flags(captions, S) == {}
    # the same caption twice in one video is not a cross-video duplicate
    same_video = [Caption(i, "one-video", LONG[0]) for i in range(3)]
    assert duplicate_flags(same_video, S) == {}


def test_duplicate_flags_a_short_caption_many_videos_share() -> None:
    captions = [Caption(i, f"v{i}", "A black screen.") for i in range(S.duplicate_short_min_videos)]
    assert len(duplicate_flags(captions, S)) == S.duplicate_short_min_videos
    assert duplicate_flags(captions[:-1], S) == {}


def test_duplicate_real_youcook2_sentences_of_different_videos() -> None:
    """3,492 real step captions of 457 videos: many share short steps ("add salt"), none is 12+ words long
    and repeated, so nothing is flagged; planting one long caption in 3 videos flags exactly those."""
    captions = [Caption((v, i), v, s) for v, sentences in YC2_VIDEOS.items() for i, s in enumerate(sentences)]
    assert duplicate_flags(captions, S) == {}
    planted = [Caption(("planted", v), v, LONG[1]) for v in list(YC2_VIDEOS)[:3]]
    flags = duplicate_flags(captions + planted, S)
    assert set(flags) == {c.key for c in planted}


# ---------------------------------------------------------------------------------------------- collapse
def _video(video: str, texts: list[str]) -> list[Caption]:
    return [Caption((video, i), video, t) for i, t in enumerate(texts)]


COLLAPSE_POS_VIDEOS = (
    [
        _video(f"p{i}", [s] * n)
        for i, (s, n) in enumerate(
            [
                ("A man stands in a room.", 6),
                ("The camera tilts up.", 10),
                ("A bright scene with plain, smooth surfaces.", 20),
                ("The white object moves right.", 8),
                ("No change.", 12),
            ]
        )
    ]
    + [
        _video(f"q{i}", [f"A woman sits at a table at second {k}." for k in range(n)] + ["She stands up."] * extra)
        for i, (n, extra) in enumerate([(10, 0), (19, 1), (30, 2), (12, 0), (50, 1)])
    ]
    + [_video(f"r{i}", [REAL_SENTENCES[i].capitalize() + "."] * (6 + i)) for i in range(10)]
)
COLLAPSE_NEG_VIDEOS = [_video(v, s) for v, s in list(YC2_VIDEOS.items())[:20] if len(s) >= S.collapse_min_rows] + [
    _video("static-few", ["A mountain under a blue sky."] * 5),  # too few captions to call it a collapse
    _video("mostly", ["The camera tilts up."] * 8 + ["A dog enters.", "The dog sits."]),  # 80 %
    _video("steady", [f"The white object moves {d}." for d in ["right", "left", "up", "down"] * 3]),
    _video(
        "numbers", [f"A counter shows {k}." for k in range(6)] + [f"The counter turns {c}." for c in "red blue".split()]
    ),
    _video("alternating", ["The man waves.", "The woman waves."] * 6),
    _video("two-halves", ["A car drives by."] * 5 + ["A bus stops."] * 5),
]


@pytest.mark.parametrize("captions", COLLAPSE_POS_VIDEOS, ids=[c[0].video for c in COLLAPSE_POS_VIDEOS])
def test_collapse_flags(captions: list[Caption]) -> None:
    flags = collapse_flags(captions, S)
    assert flags and all(f.value > S.collapse_max_share for f in flags.values())


@pytest.mark.parametrize("captions", COLLAPSE_NEG_VIDEOS, ids=[c[0].video for c in COLLAPSE_NEG_VIDEOS])
def test_collapse_passes(captions: list[Caption]) -> None:
    assert collapse_flags(captions, S) == {}


def test_collapse_is_per_video() -> None:
    """Twenty videos each with a distinct repeated sentence collapse; the same sentences spread one per
    video over twenty videos do not."""
    assert len(COLLAPSE_POS_VIDEOS) >= 20 and len(COLLAPSE_NEG_VIDEOS) >= 20
    spread = [Caption(i, f"v{i}", "A man stands in a room.") for i in range(20)]
    assert collapse_flags(spread, S) == {}


# ---------------------------------------------------------------------------------------------- all together
def test_case_counts() -> None:
    counts = {
        "empty": (EMPTY_POS, EMPTY_NEG),
        "placeholder": (PLACEHOLDER_POS, PLACEHOLDER_NEG),
        "repetition": (REPETITION_POS, REPETITION_NEG),
        "truncated": (TRUNCATED_POS, TRUNCATED_NEG),
        "refusal": (REFUSAL_POS, REFUSAL_NEG),
        "prompt_echo": (ECHO_POS + ECHO_POS_PAIRS, ECHO_NEG),
        "language": (LANGUAGE_POS, LANGUAGE_NEG),
        "collapse": (COLLAPSE_POS_VIDEOS, COLLAPSE_NEG_VIDEOS),
    }
    for flag, (pos, neg) in counts.items():
        assert len(pos) >= 20 and len(neg) >= 20, flag


def test_real_captions_pass_every_single_caption_gate() -> None:
    """All 3,492 YouCook2 validation sentences but the two known cut-looking ones, and the 457 paragraphs."""
    flagged = [s for s in YC2_SENTENCES if gates.caption_flags(s, S)]
    assert flagged == []
    paragraphs = [". ".join(s) + "." for s in YC2_VIDEOS.values()]
    assert [p for p in paragraphs if gates.caption_flags(p, S)] == []


def test_flag_rows_combines_every_gate() -> None:
    rows = [
        CaptionRow("loop", "v1", "a butterfly, " * 10),
        CaptionRow("refusal", "v2", "I'm sorry, but I can't help with that."),
        CaptionRow("echo", "v3", PROMPT, prompt=PROMPT),
        CaptionRow("cut", "v4", "A man walks into the", finish_reason="length"),
        CaptionRow("zh", "v5", "一个男人在厨房里切洋葱。"),
        CaptionRow("empty", "v6", ""),
        CaptionRow("na", "v7", "N/A"),
        CaptionRow("dup1", "v8", LONG[0]),
        CaptionRow("dup2", "v9", LONG[0]),
        *[CaptionRow(f"same{i}", "v10", "The camera tilts up.") for i in range(6)],
        CaptionRow("clean", "v11", REAL_PARAGRAPHS[0]),
    ]
    found = {k: [f.flag for f in v] for k, v in flag_rows(rows, S).items()}
    assert "repetition" in found["loop"]
    assert found["refusal"] == ["refusal"]
    assert "prompt_echo" in found["echo"]
    assert found["cut"] == ["truncated"]
    assert found["zh"] == ["language"]
    assert found["empty"] == ["empty"]
    assert found["na"] == ["placeholder"]
    assert found["dup1"] == found["dup2"] == ["duplicate"]
    assert found["same0"] == ["collapse"]
    assert found["clean"] == []
    assert {f for v in found.values() for f in v} == set(FLAGS)


def test_settings_from_profile() -> None:
    from codecvdc_assets.settings import load_profile

    for name in ("embedded", "s3", "celery", "openai"):
        assert QualitySettings.from_profile(load_profile(name)) == QualitySettings()
    assert QualitySettings.from_profile({"quality": {"collapse_max_share": 0.5}}).collapse_max_share == 0.5
    with pytest.raises(ValueError, match="unknown key"):
        QualitySettings.from_profile({"quality": {"colapse_max_share": 0.5}})
    with pytest.raises(ValueError, match="not a number"):
        QualitySettings.from_profile({"quality": {"echo_max_share": "high"}})
    with pytest.raises(ValueError, match="not supported"):
        QualitySettings.from_profile({"quality": {"language": "xx"}})


# ---------------------------------------------------------------------------------------------- real clips
VIDEOS = SHARED_VIDEOS


def _frames_1fps(path: Path, limit: int = 6) -> list:
    import av

    frames, next_t = [], 0.0
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            if frame.time is None or frame.time + 1e-6 < next_t:
                continue
            frames.append(frame.to_ndarray(format="bgr24"))
            next_t += 1.0
            if len(frames) >= limit:
                break
    return frames


def test_embedded_captions_of_the_real_clips_pass() -> None:
    """The embedded model's frame captions of every real clip in ../shared/videos (templated text, the
    hardest honest input for repetition and collapse) raise no flag, one video = the clip's captions."""
    from codecvdc_assets.models.embedded.vision import describe_frame

    rows = []
    for path in sorted(p for p in VIDEOS.iterdir() if p.suffix in (".mp4", ".mpg")):
        for i, frame in enumerate(_frames_1fps(path)):
            rows.append(CaptionRow((path.stem, i), path.stem, describe_frame(frame)["caption"]))
    assert len({r.video for r in rows}) >= 5 and len(rows) >= 30
    flagged = {k: v for k, v in flag_rows(rows, S, duplicates=False).items() if v}
    assert flagged == {}


# ---------------------------------------------------------------------------------------------- the command
def _run(args: list[str], tmp_path: Path):
    import subprocess

    from support.cli_helpers import CLI, env_for

    return subprocess.run([*CLI, *args], env=env_for(tmp_path / "home"), capture_output=True, text=True, timeout=120)


def test_quality_command(tmp_path: Path) -> None:
    rows = [
        {"id": "loop", "caption": "a butterfly, a butterfly, a butterfly, a butterfly, a butterfly."},
        {"id": "left", "caption": "The car moves left, then left again."},
        {"id": "sorry", "caption": "I'm sorry, but I can't help with that."},
        {"id": "echo", "caption": PROMPT, "prompt": PROMPT},
        {"id": "cut", "caption": "A man walks into the", "finish_reason": "length"},
        {"id": "zh", "caption": "一个男人在厨房里切洋葱。"},
        {"id": "sign", "caption": 'A shop sign reads "欢迎光临" above the door.'},
        {"id": "empty", "caption": ""},
        {"id": "null", "caption": None},
        {"id": "na", "caption": "N/A"},
        {"id": 1, "caption": LONG[2]},
        {"id": 2, "caption": LONG[2].upper()},
        *[{"id": f"ps{i}", "video": "clip", "caption": "The camera tilts up."} for i in range(6)],
    ]
    path = tmp_path / "captions.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    proc = _run(["quality", str(path), "--json"], tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = {r["id"]: r["flags"] for r in json.loads(proc.stdout)}
    assert list(out) == [str(r["id"]) for r in rows]
    assert out["loop"] == ["repetition"] and out["left"] == [] and out["sign"] == []
    assert out["sorry"] == ["refusal"] and "prompt_echo" in out["echo"] and out["cut"] == ["truncated"]
    assert out["zh"] == ["language"] and out["empty"] == out["null"] == ["empty"] and out["na"] == ["placeholder"]
    assert out["1"] == out["2"] == ["duplicate"] and out["ps0"] == ["collapse"]
    table = _run(["quality", str(path)], tmp_path)
    assert table.returncode == 0
    assert "sorry  refusal (refusal phrase" in table.stdout
    assert table.stdout.strip().splitlines()[-1].startswith(f"16 of {len(rows)} caption(s) flagged: empty 2,")


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (None, "No such file or directory"),
        ('{"id": "a", "caption": "ok"}\nnot json\n', ":2: not JSON"),
        ('{"id": "a"}\n', ":1: missing field(s) caption"),
        ('{"id": "a", "caption": 5}\n', ":1: caption must be a string"),
        ('{"id": "a", "caption": "x"}\n{"id": "a", "caption": "y"}\n', ":2: id 'a' already on line 1"),
        ("[1, 2]\n", ":1: not a JSON object"),
        ('{"id": "a", "caption": "x", "prompt": 3}\n', ":1: prompt must be a string"),
    ],
)
def test_quality_command_bad_file(tmp_path: Path, content: str | None, reason: str) -> None:
    path = tmp_path / "bad.jsonl"
    if content is not None:
        path.write_text(content)
    proc = _run(["quality", str(path)], tmp_path)
    assert proc.returncode == 2
    assert proc.stdout == ""
    assert proc.stderr.strip().count("\n") == 0 and str(path) in proc.stderr and reason in proc.stderr

"""Flags that need the other captions: `duplicate` across videos and `collapse` within one video.

duplicate: captions are grouped by their normal form (exact copies), and the distinct long ones go into a
datasketch MinHashLSH over word shingles; candidate pairs are verified with the exact Jaccard similarity of
their shingle sets and joined into clusters. A cluster spanning two or more videos flags every caption in
it; a short caption (fewer than duplicate_min_words) only when duplicate_short_min_videos videos share it,
since two videos can truly be "A black screen." No all-pairs loop: the work grows with the captions.

collapse: within one video's residuals or per-second captions, the share of captions that are the most
common sentence (normal form: case, punctuation and digits do not count) above collapse_max_share.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from datasketch import MinHash, MinHashLSH

from codecvdc_assets.quality.gates import Flag
from codecvdc_assets.quality.settings import QualitySettings
from codecvdc_assets.quality.text import ngrams, normal_form


@dataclass(frozen=True)
class Caption:
    key: Hashable  # the row's identity for the caller (an index, an id)
    video: str
    text: str


def _shingles(norm: str, n: int) -> set[bytes]:
    tokens = norm.split()
    if len(tokens) < n:
        return {" ".join(tokens).encode()}
    return {" ".join(g).encode() for g in ngrams(tokens, n)}


class _Clusters:
    def __init__(self, size: int) -> None:
        self.parent = list(range(size))

    def find(self, i: int) -> int:
        while self.parent[i] != i:
            self.parent[i] = self.parent[self.parent[i]]
            i = self.parent[i]
        return i

    def join(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def near_duplicate_pairs(texts: Sequence[str], settings: QualitySettings) -> list[tuple[int, int, float]]:
    """(j, i, Jaccard) with j < i for the pairs of `texts` (distinct normal forms) at or above
    duplicate_threshold. One pass: each text's MinHash queries the LSH of the texts before it, then joins
    it; candidates are verified on their shingle sets, rebuilt for them only (no set is kept per text)."""
    n, perm = settings.duplicate_shingle, settings.duplicate_num_perm
    lsh = MinHashLSH(threshold=settings.duplicate_threshold, num_perm=perm)
    empty = MinHash(num_perm=perm)  # its permutations are shared by every copy
    pairs = []
    for i, text in enumerate(texts):
        mine = _shingles(text, n)
        h = empty.copy()
        h.update_batch(list(mine))
        for j in lsh.query(h):
            other = _shingles(texts[j], n)
            jaccard = len(mine & other) / len(mine | other)
            if jaccard >= settings.duplicate_threshold:
                pairs.append((j, i, jaccard))
        lsh.insert(i, h, check_duplication=False)
    return pairs


def duplicate_flags(captions: Sequence[Caption], settings: QualitySettings) -> dict[Hashable, Flag]:
    """The `duplicate` flag of every caption that (nearly) repeats another video's caption."""
    forms: dict[str, int] = {}
    form_of: list[int] = []
    texts: list[str] = []
    for c in captions:
        norm = normal_form(c.text or "")
        if norm not in forms:
            forms[norm] = len(texts)
            texts.append(norm)
        form_of.append(forms[norm])
    clusters = _Clusters(len(texts))
    long_forms = [i for i, t in enumerate(texts) if len(t.split()) >= settings.duplicate_min_words]
    for a, b, _ in near_duplicate_pairs([texts[i] for i in long_forms], settings):
        clusters.join(long_forms[a], long_forms[b])
    videos: dict[int, set[str]] = defaultdict(set)
    for c, form in zip(captions, form_of, strict=True):
        if texts[form]:
            videos[clusters.find(form)].add(c.video)
    flags: dict[Hashable, Flag] = {}
    for c, form in zip(captions, form_of, strict=True):
        if not texts[form]:
            continue
        root = clusters.find(form)
        shared = videos[root]
        need = 2 if len(texts[form].split()) >= settings.duplicate_min_words else settings.duplicate_short_min_videos
        if len(shared) >= need:
            others = sorted(shared - {c.video})
            example = f", e.g. {others[0]}" if others else ""
            flags[c.key] = Flag(
                "duplicate",
                float(len(shared)),
                f"the same or a near-identical caption in {len(shared)} videos{example}",
            )
    return flags


def collapse_flags(captions: Sequence[Caption], settings: QualitySettings) -> dict[Hashable, Flag]:
    """The `collapse` flag of the captions that are one video's repeated sentence, when that sentence (or
    near copies of it) makes up more than collapse_max_share of the video's captions."""
    by_video: dict[str, list[Caption]] = defaultdict(list)
    for c in captions:
        by_video[c.video].append(c)
    flags: dict[Hashable, Flag] = {}
    for video_captions in by_video.values():
        if len(video_captions) < settings.collapse_min_rows:
            continue
        norms = [normal_form(c.text or "") for c in video_captions]
        mode, _ = Counter(n for n in norms if n).most_common(1)[0] if any(norms) else ("", 0)
        if not mode:
            continue
        same = [i for i, n in enumerate(norms) if n == mode]
        share = len(same) / len(video_captions)
        if share > settings.collapse_max_share:
            detail = f"{len(same)} of {len(video_captions)} captions are one sentence ({share:.0%})"
            for i in same:
                flags[video_captions[i].key] = Flag("collapse", share, detail)
    return flags

"""Fitting a caption into the VidCapQA answerer's window (issue 21): levels by priority, sentences spread."""

from __future__ import annotations

from codecvdc_assets.evaluation.caption_fit import fit_caption, spread


def test_caption_fitting_keeps_levels_by_priority_and_spreads_sentences() -> None:
    sentences = [f"At {i} s, thing {i} happens." for i in range(200)]
    text = " ".join(sentences)

    def fits(caption: str) -> bool:
        return len(caption.split()) <= 300

    cut = spread(text, fits)
    assert fits(cut) and cut.startswith("At 0 s") and cut.endswith("thing 199 happens.") and "\u2026" in cut
    sources = {"codeccap:stream": text, "codeccap:scene": " ".join(sentences[:40]), "codeccap:video": "Short video."}
    fitted, was = fit_caption("codeccap:all", "\n\n".join(sources.values()), sources, fits)
    stream, scene, video = fitted.split("\n\n")
    assert was and video == "Short video." and scene == sources["codeccap:scene"] and "\u2026" in stream
    assert fit_caption("direct:caption", "Fits.", sources, fits) == ("Fits.", False)

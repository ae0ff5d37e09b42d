"""pycocoevalcap's scorers (PTB tokenizer, BLEU-1..4, METEOR 1.5, ROUGE-L, CIDEr) with Java started once.

The official scripts call the tokenizer inside their per-threshold, per-metric loops, and each call is a new
JVM (`java -cp stanford-corenlp-3.4.1.jar ...`); naive code also starts METEOR (`java -jar meteor-1.5.jar`,
which loads its paraphrase table, seconds) per call. A `CocoSession` instead:

- tokenizes every distinct sentence of an evaluation in one tokenizer call (the PTB tokenizer with
  `-preserveLines` works line by line, so a sentence gets the same tokens whatever else is in the file);
- keeps one METEOR process for the whole evaluation, asks it for the statistics of each distinct
  (hypothesis, reference) pair once (pipelined), and scores each video with METEOR's own `EVAL` over those
  statistics, which is exactly what `Meteor.compute_score` sends;
- calls pycocoevalcap's Bleu, Rouge and Cider (pure Python) as they are.

Scores are therefore pycocoevalcap's, computed on the same inputs the official scripts pass.
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO

from pycocoevalcap.bleu.bleu import Bleu
from pycocoevalcap.cider.cider import Cider
from pycocoevalcap.meteor.meteor import Meteor
from pycocoevalcap.rouge.rouge import Rouge
from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

LANGUAGE_METRICS = ["Bleu_1", "Bleu_2", "Bleu_3", "Bleu_4", "METEOR", "ROUGE_L", "CIDEr"]
_PIPELINE = 128  # METEOR SCORE lines in flight: their answers (~100 bytes each) stay far below a pipe's 64 KiB


def remove_nonascii(text: str) -> str:
    """What the official scripts do to every sentence before tokenizing: non-ASCII characters become spaces."""
    return "".join(c if ord(c) < 128 else " " for c in text)


class JavaError(RuntimeError):
    pass


@contextmanager
def _quiet_stderr() -> Iterator[IO[bytes]]:
    """The tokenizer's JVM prints a progress line on the inherited stderr: keep it (for error messages) but
    off the terminal."""
    with tempfile.TemporaryFile() as log:
        saved = os.dup(2)
        os.dup2(log.fileno(), 2)
        try:
            yield log
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class CocoSession:
    """One evaluation's scorers. Use as a context manager (the METEOR process ends on exit)."""

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}
        self._meteor: Meteor | None = None
        self._stats: dict[tuple[str, str], str] = {}
        self._bleu, self._rouge, self._cider = Bleu(4), Rouge(), Cider()
        self.java_starts = 0
        self.tokenizer_s = 0.0

    def __enter__(self) -> CocoSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._meteor is not None:
            proc = self._meteor.meteor_p
            with self._meteor.lock:
                if proc.stdin and not proc.stdin.closed:
                    proc.stdin.close()
                proc.kill()
                proc.wait()
            self._meteor = None

    # ---------------------------------------------------------------- tokens
    def tokenize(self, sentences: Iterable[str]) -> None:
        """Tokenize (in one Java call) every sentence not seen yet; sentences are raw (before remove_nonascii)."""
        todo = sorted({remove_nonascii(s) for s in sentences} - set(self._tokens))
        # Carriage returns would split a line in Java and shift every later sentence; the official scripts
        # only replace "\n". A blank line tokenizes to nothing.
        lines = [s.replace("\n", " ").replace("\r", " ") for s in todo]
        blank = [s for s, line in zip(todo, lines, strict=True) if not line.strip()]
        for s in blank:
            self._tokens[s] = ""
        todo = [s for s, line in zip(todo, lines, strict=True) if line.strip()]
        if not todo:
            return
        started = time.perf_counter()
        with _quiet_stderr() as log:
            try:
                out = PTBTokenizer().tokenize({i: [{"caption": s}] for i, s in enumerate(todo)})
            except FileNotFoundError as exc:
                raise JavaError("the PTB tokenizer needs Java: install a JRE (Debian: default-jre-headless)") from exc
            log.seek(0)
            messages = log.read().decode(errors="replace").strip()
        self.java_starts += 1
        self.tokenizer_s += time.perf_counter() - started
        if len(out) != len(todo):
            tail = messages.splitlines()[-1] if messages else "no message"
            raise JavaError(f"the PTB tokenizer returned {len(out)} lines for {len(todo)} sentences ({tail})")
        for i, s in enumerate(todo):
            self._tokens[s] = out[i][0]

    def tokens(self, sentence: str) -> str:
        key = remove_nonascii(sentence)
        if key not in self._tokens:
            self.tokenize([sentence])
        return self._tokens[key]

    # ---------------------------------------------------------------- METEOR
    def _meteor_process(self) -> Meteor:
        if self._meteor is None:
            try:
                self._meteor = Meteor()
            except FileNotFoundError as exc:
                raise JavaError("METEOR needs Java: install a JRE (Debian: default-jre-headless)") from exc
            self.java_starts += 1
        return self._meteor

    def _meteor_stats(self, pairs: list[tuple[str, str]]) -> None:
        todo = [p for p in dict.fromkeys(pairs) if p not in self._stats]
        if not todo:
            return
        meteor = self._meteor_process()
        proc = meteor.meteor_p
        with meteor.lock:
            for i in range(0, len(todo), _PIPELINE):
                chunk = todo[i : i + _PIPELINE]
                # Meteor._stat's line: SCORE ||| reference ||| hypothesis (with '|||' and double spaces removed)
                lines = "".join(
                    f"SCORE ||| {ref} ||| {hyp.replace('|||', '').replace('  ', ' ')}\n" for hyp, ref in chunk
                )
                proc.stdin.write(lines.encode())
                proc.stdin.flush()
                for pair in chunk:
                    answer = proc.stdout.readline()
                    if not answer:
                        raise JavaError(f"METEOR ended unexpectedly: {proc.stderr.read().decode()[-300:]}")
                    self._stats[pair] = answer.decode().strip()

    def _meteor_scores(self, groups: list[list[tuple[str, str]]]) -> list[float]:
        """Meteor.compute_score of each group of pairs: EVAL over their statistics, the aggregate score.
        The EVAL lines are written by a thread while this one reads the answers, so none waits on a full pipe."""
        self._meteor_stats([p for pairs in groups for p in pairs])
        meteor = self._meteor_process()
        proc = meteor.meteor_p
        lines = ["EVAL" + "".join(f" ||| {self._stats[p]}" for p in pairs) + "\n" for pairs in groups]
        scores = []
        with meteor.lock:

            def write() -> None:
                for line in lines:
                    proc.stdin.write(line.encode())
                proc.stdin.flush()

            writer = threading.Thread(target=write, daemon=True)
            writer.start()
            for pairs in groups:
                for _ in pairs:  # one score per segment, then the aggregate
                    proc.stdout.readline()
                answer = proc.stdout.readline()
                if not answer:
                    raise JavaError(f"METEOR ended unexpectedly: {proc.stderr.read().decode()[-300:]}")
                scores.append(float(answer.strip()))
            writer.join()
        return scores

    # ---------------------------------------------------------------- scores
    def prepare(self, pairs: Iterable[tuple[str, str]]) -> None:
        """Warm the caches for many (hypothesis, reference) raw pairs at once: one tokenizer call, pipelined
        METEOR statistics."""
        pairs = list(pairs)
        self.tokenize({s for pair in pairs for s in pair})
        self._meteor_stats([(self.tokens(h), self.tokens(r)) for h, r in pairs])

    def score(self, pairs: list[tuple[str, str]]) -> dict[str, float]:
        """Every language metric of one video's (hypothesis, reference) raw pairs."""
        return self.score_many([pairs])[0]

    def score_many(self, groups: list[list[tuple[str, str]]]) -> list[dict[str, float]]:
        """For each video's (hypothesis, reference) raw pairs, every language metric as `scorer.compute_score(
        gts, res)` returns it for `gts = {i: [reference]}`, `res = {i: [hypothesis]}` (tokenized)."""
        tokenized = [[(self.tokens(h), self.tokens(r)) for h, r in pairs] for pairs in groups]
        meteor = self._meteor_scores(tokenized)
        out = []
        for tok, m in zip(tokenized, meteor, strict=True):
            res = {i: [h] for i, (h, _) in enumerate(tok)}
            gts = {i: [r] for i, (_, r) in enumerate(tok)}
            bleu, _ = self._bleu.compute_score(gts, res, verbose=0)
            rouge, _ = self._rouge.compute_score(gts, res)
            cider, _ = self._cider.compute_score(gts, res)
            out.append(
                {
                    **{f"Bleu_{n + 1}": float(b) for n, b in enumerate(bleu)},
                    "METEOR": m,
                    "ROUGE_L": float(rouge),
                    "CIDEr": float(cider),
                }
            )
        return out

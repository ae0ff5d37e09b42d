"""Dagster resources; a profile in resources/<name>.yaml configures them (see definitions.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import PrivateAttr

from codecvdc_assets.models.budget import DEFAULT_CONTEXT_TOKENS
from codecvdc_assets.models.client import ModelClient
from codecvdc_assets.models.embedded.backend import TEXT_MODEL, VISION_MODEL
from codecvdc_assets.models.factory import ModelSettings, build_client
from codecvdc_assets.models.types import Sampling
from codecvdc_assets.quality.answers import answer_check, reask_sampling
from codecvdc_assets.quality.settings import QualitySettings
from codecvdc_assets.settings import codecvdc_home, load_profile
from codecvdc_assets.storage.blobs import Blobs, LocalBlobs, S3Blobs, is_s3_url, split_s3_url
from codecvdc_assets.storage.frame_store import FrameStore
from codecvdc_assets.storage.lake import Lake
from codecvdc_assets.storage.registry import Registry
from codecvdc_assets.storage.video_sources import local_copy
from codecvdc_assets.video.segmentation import SegmentParams

if TYPE_CHECKING:  # dagster-aws costs ~1 s of imports (its package loads its components): only for S3
    from dagster_aws.s3 import S3Resource


class LakeResource(dg.ConfigurableResource):
    """Where the data lives. $CODECVDC_HOME always holds the Dagster home, the video registry, the
    catalog and temp files; the lake, the frame store and the model-call cache live under `storage_url`
    (same layout): empty for $CODECVDC_HOME itself, or ``s3://bucket/prefix``. `s3` holds the settings of
    a dagster-aws `S3Resource` (endpoint, region, AWS profile; never credentials), whose boto3 client
    writes the store and reads ``s3://`` video roots. (A plain mapping rather than a nested resource: a
    nested resource would make this one a generator that sensor contexts must open with `with`.)"""

    home: str
    storage_url: str = ""
    s3: dict[str, Any] = {}
    _s3_client: Any = PrivateAttr(default=None)

    def model_post_init(self, __context) -> None:
        if self.storage_url:
            split_s3_url(self.storage_url)  # raises on anything but s3://bucket[/prefix]
        for secret in ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"):
            if secret in self.s3:
                raise ValueError(f"storage.s3.{secret}: credentials come from the environment, never from a profile")
        if self.s3:
            self.s3_resource()  # validates the settings

    def s3_resource(self) -> S3Resource:
        from dagster_aws.s3 import S3Resource

        return S3Resource(**{k: v for k, v in self.s3.items() if v not in (None, "")})

    def s3_client(self) -> Any:
        """One boto3 client per resource instance (boto3 clients are thread-safe)."""
        if self._s3_client is None:
            self._s3_client = self.s3_resource().get_client()
        return self._s3_client

    def blobs(self) -> Blobs:
        """The store holding lake/, frames/ and cache/."""
        if not self.storage_url:
            return LocalBlobs(self.home)
        bucket, prefix = split_s3_url(self.storage_url)
        return S3Blobs(self.s3_client(), bucket, prefix, s3fs_options(self.s3_resource()))

    def lake(self) -> Lake:
        return Lake(self.home, self.blobs())

    def registry(self) -> Registry:
        """The video registry under $CODECVDC_HOME; with the store on S3 each entry is also kept there, so
        workers on other hosts (celery profile) find the videos this host registered."""
        return Registry(self.home, None if not self.storage_url else self.blobs().child("registry"))

    def frame_store(self) -> FrameStore:
        return FrameStore(self.blobs().child("frames"))

    def frame_uri(self, sha256: str) -> str:
        """The frame's key relative to the store's root (``frames/ab/ab...jpg``), the same on S3."""
        return f"frames/{FrameStore.key(sha256)}"

    def cache_dir(self) -> str | Blobs:
        """The model-call cache's location (a folder, or a blob store on S3) for `ModelResource.client`."""
        blobs = self.blobs().child("cache").child("model_calls")
        return blobs.uri() if isinstance(blobs, LocalBlobs) else blobs

    def spool_dir(self) -> str:
        path = os.path.join(self.home, "tmp")
        os.makedirs(path, exist_ok=True)
        return path

    @contextmanager
    def local_video(self, path: str) -> Iterator[str]:
        """A registered video as a local file: itself, or a temp copy of an S3 object (deleted after)."""
        client = self.s3_client() if is_s3_url(path) else None
        with local_copy(path, client, self.spool_dir()) as local:
            yield local


def s3fs_options(s3: S3Resource) -> dict[str, Any]:
    """s3fs settings reaching the same store as `s3.get_client()` (credentials: the same AWS chain)."""
    client_kwargs = {k: v for k, v in {"region_name": s3.region_name}.items() if v}
    options: dict[str, Any] = {"endpoint_url": s3.endpoint_url or _env_endpoint(), "client_kwargs": client_kwargs}
    if s3.profile_name:
        options["profile"] = s3.profile_name
    if s3.use_unsigned_session:
        options["anon"] = True
    return {k: v for k, v in options.items() if v}


def _env_endpoint() -> str | None:
    return os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")


def lake_resource(profile: dict[str, Any], home: str | os.PathLike[str]) -> LakeResource:
    """The profile's `storage` section (``url``; ``s3``: S3Resource settings) as a LakeResource."""
    storage = dict(profile.get("storage") or {})
    url = str(storage.pop("url", "") or "")
    s3 = dict(storage.pop("s3", None) or {})
    if storage:
        raise ValueError(f"storage: unknown setting(s) {', '.join(sorted(storage))} (expected url, s3)")
    return LakeResource(home=str(home), storage_url=url, s3=s3)


def open_lake(home: str | os.PathLike[str] | None = None, profile: str | None = None) -> Lake:
    """The lake of a profile (default: the active one) outside Dagster: the CLI and the catalog."""
    return lake_resource(load_profile(profile), Path(home) if home else codecvdc_home()).lake()


class SegmentationResource(dg.ConfigurableResource):
    """Segmentation and sampling parameters (CodecCap section 3.2); defaults in SegmentParams."""

    tau_gop: float = SegmentParams.tau_gop
    proximity_s: float = SegmentParams.proximity_s
    min_duration_s: float = SegmentParams.min_duration_s
    max_duration_s: float = SegmentParams.max_duration_s
    all_intra_ratio: float = SegmentParams.all_intra_ratio
    content_threshold: float = SegmentParams.content_threshold
    detector_min_scene_len: int = SegmentParams.detector_min_scene_len
    analysis_width: int = SegmentParams.analysis_width
    sample_fps: float = SegmentParams.sample_fps
    frame_max_side: int = SegmentParams.frame_max_side
    jpeg_quality: int = SegmentParams.jpeg_quality

    def params(self) -> SegmentParams:
        return SegmentParams(**{k: getattr(self, k) for k in SegmentParams.__dataclass_fields__})


class VideoRootsResource(dg.ConfigurableResource):
    """Folders (or files) the video sensor scans."""

    roots: list[str] = []


class ModelResource(dg.ConfigurableResource):
    """A model behind the one model interface: the embedded backend or an OpenAI-compatible endpoint.

    `api_key` comes from the environment through dg.EnvVar (profiles name the variable with
    `api_key_env`); it is never logged, written to metadata or part of a cache key or version.
    """

    backend: str = "embedded"
    model: str = ""
    base_urls: list[str] = []
    api_key: str | None = None
    concurrency: int = 8
    per_endpoint_concurrency: int = 16
    timeout_s: float = 120.0
    max_retries: int = 4
    temperature: float = 0.0
    max_tokens: int = 1024
    top_p: float = 1.0
    seed: int | None = 0
    # The served model's window (vLLM: --max-model-len); every request is planned to fit it (models/budget.py).
    context_tokens: int = DEFAULT_CONTEXT_TOKENS

    def settings(self) -> ModelSettings:
        return ModelSettings(
            backend=self.backend,
            model=self.model,
            base_urls=list(self.base_urls),
            api_key=self.api_key,
            concurrency=self.concurrency,
            per_endpoint_concurrency=self.per_endpoint_concurrency,
            timeout_s=self.timeout_s,
            max_retries=self.max_retries,
            sampling=Sampling(self.temperature, self.max_tokens, self.top_p, self.seed),
            context_tokens=self.context_tokens,
        )

    def client(self, cache_dir: str | None, quality: QualitySettings | None = None) -> ModelClient:
        """The model client; with `quality` every valid caption answer passes the gates, a flagged one is
        re-asked (quality/answers.py)."""
        if quality is None:
            return build_client(self.settings(), cache_dir)
        settings = self.settings()
        return build_client(settings, cache_dir, answer_check(quality), reask_sampling(quality, settings.sampling))


class VisionModelResource(ModelResource):
    """The VLM for anchors, residuals and the vision baselines."""

    model: str = VISION_MODEL


class TextModelResource(ModelResource):
    """The text LLM for narratives and VidCapQA answers."""

    model: str = TEXT_MODEL


class QualityResource(dg.ConfigurableResource):
    """The caption quality gates' thresholds and policy: the profile's `quality:` section as given (every
    key optional; quality/settings.py holds the defaults and checks the keys)."""

    section: dict[str, Any] = {}

    def settings(self) -> QualitySettings:
        return QualitySettings.from_profile({"quality": self.section})

    def model_post_init(self, __context) -> None:
        self.settings()  # an unknown key or a bad value fails when the definitions load


class CaptioningResource(dg.ConfigurableResource):
    """Caption-chain settings: residual windows and the word-count bounds the dataset checks enforce."""

    window_size: int = 8
    window_overlap: int = 1
    # What a residual request carries besides its frames: `anchor` (the segment's anchor caption and
    # entity list, CodecCap's contextual residual captioning) or `none` (the ablation: frames only).
    residual_context: str = "anchor"
    anchor_words_min: int = 10
    anchor_words_max: int = 1500
    residual_words_min: int = 1
    residual_words_max: int = 120
    # Inputs per merge request at most (the video narrative through chapters, captioning/hierarchy.py).
    max_fan_in: int = 16

    def model_post_init(self, __context) -> None:
        if self.max_fan_in < 2:
            raise ValueError(f"captioning: max_fan_in must be at least 2, not {self.max_fan_in}")
        for kind in ("anchor", "residual"):
            low, high = getattr(self, f"{kind}_words_min"), getattr(self, f"{kind}_words_max")
            if low > high:
                raise ValueError(f"captioning: {kind}_words_min ({low}) is greater than {kind}_words_max ({high})")
        if not 1 <= self.window_overlap < self.window_size:
            raise ValueError("captioning: window_overlap must be in [1, window_size - 1]")
        if self.residual_context not in ("anchor", "none"):
            raise ValueError(f"captioning: residual_context must be anchor or none, not {self.residual_context!r}")


class LongCaptionResource(dg.ConfigurableResource):
    """LongCaption-Agent (LongCaptioning, section 3): the sliding clip window over the 1 fps frames."""

    window_s: float = 10.0
    stride_s: float = 5.0
    max_fan_in: int = 16  # clips (or sections) per merge request at most (captioning/hierarchy.py)

    def model_post_init(self, __context) -> None:
        if self.max_fan_in < 2:
            raise ValueError(f"longcaption: max_fan_in must be at least 2, not {self.max_fan_in}")
        if self.window_s <= 0 or self.stride_s <= 0:
            raise ValueError("longcaption: window_s and stride_s must be positive")


class VidCapQAResource(dg.ConfigurableResource):
    """VidCapQA settings: the question bank (JSONL or Parquet; relative paths are resolved against the
    project folder), the bootstrap, and the direct baseline's frame budget."""

    bank: str = "resources/vidcapqa/demo_bank.jsonl"
    seed: int = 0
    resamples: int = 2000
    direct_frames: int = 8
    # Construction (optional): a question pool, its layout, and the model answers of each step.
    pool: str = ""
    pool_layout: str = "bank"  # bank (JSONL/Parquet in the bank format) or an importer name: tempcompass
    construction_answers: str = ""
    construction_target: int = 1000
    construction_seed: int = 0
    # Live models per step (relabel, text_only, phase_a, phase_b), each a model section like vision_model;
    # a step with imported answers uses those instead.
    construction_models: dict[str, list[dict[str, Any]]] = {}
    # Outside captioners answered next to ours: [{source: NAME, path: CAPTIONS.jsonl}] (evaluation/external.py).
    external_captions: list[dict[str, str]] = []

    def bank_path(self) -> str:
        return self._resolve(self.bank)

    def _resolve(self, path: str) -> str:
        from codecvdc_assets.settings import project_dir

        return path if not path or os.path.isabs(path) else str(project_dir() / path)

    def pool_path(self) -> str:
        return self._resolve(self.pool)

    def answers_path(self) -> str:
        return self._resolve(self.construction_answers)

    def external_paths(self) -> list[tuple[str, str]]:
        """(source, resolved path) of each outside captioner."""
        return [(str(e["source"]), self._resolve(str(e["path"]))) for e in self.external_captions]

    def model_post_init(self, __context) -> None:
        if self.resamples < 1000:
            raise ValueError("vidcapqa: resamples must be at least 1000")
        if self.direct_frames < 1:
            raise ValueError("vidcapqa: direct_frames must be at least 1")
        for i, entry in enumerate(self.external_captions):
            missing = [k for k in ("source", "path") if not str(entry.get(k) or "").strip()]
            if missing or set(entry) - {"source", "path"}:
                raise ValueError(
                    f"vidcapqa.external_captions[{i}]: expected {{source: NAME, path: FILE}}, got {dict(entry)}"
                )


class CaptionMetricsResource(dg.ConfigurableResource):
    """Reference files for the dataset-level asset `caption_metrics` (README "Caption metrics"); the asset
    joins the graph when one is set. Relative paths are resolved against the project folder."""

    dense_references: str = ""  # ActivityNet-layout references: the ActivityNet protocol
    dense_sources: list[str] = ["codeccap:evidence", "codeccap:scene", "per_second"]
    tious: list[float] = [0.3, 0.5, 0.7, 0.9]
    max_proposals: int = 1000
    soccernet_references: str = ""  # single-timestamp references: SoccerNet-Caption's protocol
    window_s: float = 30.0
    tolerance_s: float | None = None
    long_references: str = ""  # LongCaption-Bench: JSONL {video_id, reference} or a dense reference file
    long_sources: list[str] = []  # empty: every VidCapQA caption source a video has
    seed: int = 0
    resamples: int = 2000

    def enabled(self) -> bool:
        return bool(self.dense_references or self.soccernet_references or self.long_references)

    def settings(self):
        from codecvdc_assets.evaluation.lake_metrics import MetricsSettings
        from codecvdc_assets.settings import project_dir

        def resolve(path: str) -> str:
            return path if not path or os.path.isabs(path) else str(project_dir() / path)

        return MetricsSettings(
            dense_references=resolve(self.dense_references),
            dense_sources=list(self.dense_sources),
            tious=list(self.tious),
            max_proposals=self.max_proposals,
            soccernet_references=resolve(self.soccernet_references),
            window_s=self.window_s,
            tolerance_s=self.tolerance_s,
            long_references=resolve(self.long_references),
            long_sources=list(self.long_sources),
            seed=self.seed,
            resamples=self.resamples,
        )

    def model_post_init(self, __context) -> None:
        if self.resamples < 1000:
            raise ValueError("caption_metrics: resamples must be at least 1000")


def model_config(section: dict[str, Any] | None, where: str = "profile") -> dict[str, Any]:
    """A profile's model section as resource config; `api_key_env: NAME` becomes dg.EnvVar(NAME)."""
    config = dict(section or {})
    if "api_key" in config:  # never echo the value: it may be a real key
        raise ValueError(f"{where}: profiles must not contain api_key: name the environment variable with api_key_env")
    env = config.pop("api_key_env", None)
    if env:
        config["api_key"] = dg.EnvVar(env)
    return config


def build_resources(profile: dict[str, Any], home: str | None = None) -> dict[str, Any]:
    return {
        "lake": lake_resource(profile, home or str(codecvdc_home())),
        "segmentation": SegmentationResource(**(profile.get("segmentation") or {})),
        "video_roots": VideoRootsResource(roots=[str(r) for r in profile.get("video_roots") or []]),
        "vision_model": VisionModelResource(
            **model_config(profile.get("vision_model"), _where(profile, "vision_model"))
        ),
        "text_model": TextModelResource(**model_config(profile.get("text_model"), _where(profile, "text_model"))),
        "captioning": CaptioningResource(**(profile.get("captioning") or {})),
        "vidcapqa": VidCapQAResource(**(profile.get("vidcapqa") or {})),
        "caption_metrics": CaptionMetricsResource(**(profile.get("caption_metrics") or {})),
        "longcaption": LongCaptionResource(**(profile.get("longcaption") or {})),
        "quality": QualityResource(section=profile.get("quality") or {}),
    }


def _where(profile: dict[str, Any], section: str) -> str:
    return f"profile {profile.get('name', '(inline)')}, {section}"
